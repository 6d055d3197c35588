//! `api`'s tests: whole requests through `handle` against the in-memory host.
use super::*;
use crate::fake::{ALLOC, Fake, NODE};
use crate::host::ClientStatus;

fn call(host: &Fake, method: &str, path: &str, query: &str, body: &str) -> Response {
    let req = Request {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: vec![("origin".into(), "http://ui.example".into())],
        body: body.as_bytes().to_vec(),
    };
    match handle(host, &req) {
        Action::Respond(response) => response,
        other => panic!("unexpected {other:?}"),
    }
}

fn text(response: &Response) -> &str {
    std::str::from_utf8(&response.body).unwrap()
}

#[test]
fn metadata_read_apply_and_tombstones() {
    let host = Fake::default();
    let r = call(&host, "GET", "/v1/client/metadata", "", "");
    assert_eq!(
        text(&r),
        r#"{"Dynamic":{},"Meta":{"rack":"r1"},"Static":{"rack":"r1"}}"#
    );
    let r = call(
        &host,
        "POST",
        "/v1/client/metadata",
        "",
        r#"{"Meta":{"rack":null,"a":"1","b":null}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        r#"{"Dynamic":{"a":"1","rack":null},"Meta":{"a":"1"},"Static":{"rack":"r1"}}"#
    );
    let r = call(&host, "PUT", "/v1/client/metadata", "", "");
    assert_eq!((r.status, text(&r)), (405, "Invalid method"));
    let r = call(
        &host,
        "POST",
        "/v1/client/metadata",
        "",
        r#"{"NodeID":"other","Meta":{"a":"1"}}"#,
    );
    assert_eq!((r.status, text(&r)), (404, r#"Unknown node "other""#));
    let r = call(
        &host,
        "POST",
        "/v1/client/metadata",
        &format!("node_id={NODE}"),
        r#"{"NodeID":"other","Meta":{"a":"2"}}"#,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn pretty_output_is_indented_with_a_newline() {
    let host = Fake::default();
    let r = call(&host, "GET", "/v1/client/metadata", "pretty=false", "");
    assert!(
        text(&r).starts_with("{\n    \"Dynamic\": {},\n"),
        "{}",
        text(&r)
    );
    assert!(text(&r).ends_with("}\n"));
}

#[test]
fn cors_reflects_origin_except_on_gc_all() {
    let host = Fake::default();
    let r = call(&host, "GET", "/v1/client/stats", "", "");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("http://ui.example")
    );
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(text(&r), "null");
    let r = call(&host, "GET", "/v1/client/gc", "", "");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!((r.status, r.headers.len(), r.body.len()), (200, 0, 0));
}

#[test]
fn fs_listing_and_stat_bodies() {
    let host = Fake::default();
    let path = format!("/v1/client/fs/ls/{ALLOC}");
    let r = call(&host, "GET", &path, "path=alloc", "");
    assert_eq!(
        text(&r),
        r#"[{"FileMode":"drwxr-xr-x","IsDir":true,"ModTime":"2023-11-14T22:13:20.5Z","Name":"data","Size":4096},{"FileMode":"drwxr-xr-x","IsDir":true,"ModTime":"2023-11-14T22:13:20.5Z","Name":"logs","Size":4096}]"#
    );
    let stat = format!("/v1/client/fs/stat/{ALLOC}");
    let r = call(&host, "GET", &stat, "path=/", "");
    assert!(
        text(&r).contains(&format!(r#""Name":"{ALLOC}""#)),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains(r#""ContentType":"application/octet-stream""#));
    let r = call(&host, "GET", &stat, "path=alloc/data/conf.json", "");
    assert!(text(&r).contains(r#""ContentType":"application/json""#));
    let r = call(&host, "GET", &stat, "path=alloc/data/page.html", "");
    assert!(text(&r).contains(r#""ContentType":"text/html; charset=utf-8""#));
    let r = call(&host, "GET", &stat, "", "");
    assert_eq!((r.status, text(&r)), (400, "must provide a file name"));
    let r = call(&host, "GET", &stat, "path=nope", "");
    assert_eq!(
        (r.status, text(&r)),
        (404, "stat nope: no such file or directory")
    );
    let r = call(&host, "GET", &path, "path=../x", "");
    assert_eq!(
        (r.status, text(&r)),
        (400, "Path escapes the alloc directory")
    );
    let r = call(&host, "GET", &path, "path=alloc/logs/web.stdout.0", "");
    assert_eq!(
        (r.status, text(&r)),
        (400, "open alloc/logs/web.stdout.0: not a directory")
    );
}

#[test]
fn unknown_and_malformed_allocations() {
    let host = Fake::default();
    let r = call(
        &host,
        "GET",
        "/v1/client/fs/ls/5fc98185-17ff-26bc-a802-0c74fa471c98",
        "",
        "",
    );
    assert_eq!(
        (r.status, text(&r)),
        (
            404,
            r#"Unknown allocation "5fc98185-17ff-26bc-a802-0c74fa471c98""#
        )
    );
    let r = call(&host, "GET", "/v1/client/allocation/foo/stats", "", "");
    assert_eq!(
        (r.status, text(&r)),
        (
            400,
            "alloc lookup failed: index error: UUID must be 36 characters"
        )
    );
}

#[test]
fn cat_and_readat() {
    let host = Fake::default();
    let cat = format!("/v1/client/fs/cat/{ALLOC}");
    let req = |path: &str, query: &str| Request {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        ..Request::default()
    };
    match handle(&host, &req(&cat, "path=alloc/data/page.html")) {
        Action::SendFile(send) => {
            assert_eq!(send.path, "alloc/data/page.html");
            assert_eq!(
                (send.vanished.status, text(&send.vanished)),
                (404, "open alloc/data/page.html: no such file or directory")
            );
            assert_eq!(send.headers[0].1, "text/plain");
            assert!(
                send.headers
                    .iter()
                    .any(|(n, v)| n == "X-Content-Type-Options" && v == "nosniff")
            );
        }
        other => panic!("{other:?}"),
    }
    let r = call(&host, "GET", &cat, "path=alloc/data/empty", "");
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("text/plain; charset=utf-8"))
    );
    let r = call(&host, "GET", &cat, "path=alloc", "");
    assert_eq!(
        (r.status, text(&r)),
        (400, r#"file "alloc" is a directory"#)
    );
    let r = call(&host, "GET", &cat, "path=web/secrets/token", "");
    assert_eq!(
        (r.status, text(&r)),
        (403, "Reading secret file prohibited: web/secrets/token")
    );
    let readat = format!("/v1/client/fs/readat/{ALLOC}");
    let r = call(&host, "GET", &readat, "path=alloc/logs/web.stdout.0", "");
    assert_eq!(
        (r.status, text(&r)),
        (
            400,
            r#"error parsing offset: strconv.ParseInt: parsing "": invalid syntax"#
        )
    );
    let r = call(
        &host,
        "GET",
        &readat,
        "path=alloc/logs/web.stdout.0&offset=-1",
        "",
    );
    assert_eq!(
        (r.status, text(&r)),
        (400, "can't seek to offset -1: invalid argument")
    );
    match handle(
        &host,
        &req(&readat, "path=alloc/logs/web.stdout.0&offset=2&limit=-1"),
    ) {
        Action::SendFile(send) => assert_eq!((send.offset, send.limit), (2, None)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gc_only_collects_terminal_allocations() {
    let host = Fake::default();
    let gc = format!("/v1/client/allocation/{ALLOC}/gc");
    let r = call(&host, "GET", &gc, "", "");
    assert_eq!(r.status, 400);
    *host.status.borrow_mut() = ClientStatus::Complete;
    let r = call(&host, "GET", &gc, "", "");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(host.collected.borrow().as_slice(), [ALLOC.to_string()]);
    let r = call(&host, "GET", &gc, "", "");
    assert_eq!(r.status, 404);
}

#[test]
fn gc_errors_from_the_host_are_typed() {
    use crate::host::CollectError;
    let host = Fake::default();
    *host.status.borrow_mut() = ClientStatus::Failed;
    let gc = format!("/v1/client/allocation/{ALLOC}/gc");
    for (err, expected) in [
        (
            CollectError::NotTerminal,
            (
                400,
                "No such allocation on client, or allocation not eligible for GC",
            ),
        ),
        (
            CollectError::NotFound,
            (
                400,
                "No such allocation on client, or allocation not eligible for GC",
            ),
        ),
        (CollectError::Io("device busy".into()), (500, "device busy")),
    ] {
        *host.collect_error.borrow_mut() = Some(err);
        let r = call(&host, "GET", &gc, "", "");
        assert_eq!((r.status, text(&r)), expected);
        // GC of every allocation answers 200 whatever happens to each one.
        let r = call(&host, "GET", "/v1/client/gc", "", "");
        assert_eq!(r.status, 200);
    }
}

#[test]
fn preflight_is_answered_without_the_handler() {
    let host = Fake::default();
    let req = Request {
        method: "OPTIONS".into(),
        path: "/v1/client/metadata".into(),
        headers: vec![
            ("origin".into(), "http://ui".into()),
            ("access-control-request-method".into(), "GET".into()),
            (
                "access-control-request-headers".into(),
                "x-nomad-token".into(),
            ),
        ],
        ..Request::default()
    };
    let Action::Respond(r) = handle(&host, &req) else {
        panic!()
    };
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://ui"));
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("x-nomad-token")
    );
}
