//! One request in, one action out: routing, the handlers of the non-fs routes, and CORS.

use serde_json::json;

use crate::access::{self, Access};
use crate::host::{CollectError, Host, LogLevel};
use crate::http::{Action, ApiError, ApiResult, Request, Response, StreamStart};
use crate::params::Query;
use crate::router::{FsOp, Route, route};
use crate::stream::Stream;
use crate::{fs, meta, stats};

/// Decide how to answer `req`.
pub fn handle<H: Host>(host: &H, req: &Request) -> Action<Stream<H::Watch>> {
    let query = Query::parse(&req.query);
    let routed = route(&req.path);
    // Nomad's mux wraps every client route in CORS except GC-all; its fallthrough (the
    // only routing error with an empty body) is not wrapped either.
    let cors = match &routed {
        Ok(route) => route.cors(),
        Err(err) => !err.message.is_empty(),
    };
    if cors && is_preflight(req) {
        return Action::Respond(preflight(req));
    }
    let result = routed.and_then(|route| dispatch(host, req, &query, route));
    let mut action = result.unwrap_or_else(|err| {
        if err.status >= 500 {
            host.log(
                LogLevel::Warn,
                &format!("{} {}: {}", req.method, req.path, err.message),
            );
        }
        Action::Respond(err.into_response())
    });
    if cors {
        // Every answer the host may send carries them; a relayed answer has the node's own.
        match &mut action {
            Action::Respond(response) => add_cors_headers(req, &mut response.headers),
            Action::SendFile(send) => {
                add_cors_headers(req, &mut send.headers);
                add_cors_headers(req, &mut send.vanished.headers);
            }
            Action::Stream(stream) => add_cors_headers(req, &mut stream.headers),
            Action::Forward(to) => add_cors_headers(req, &mut to.unreachable.headers),
        }
    }
    action
}

fn dispatch<H: Host>(
    host: &H,
    req: &Request,
    query: &Query,
    route: Route,
) -> ApiResult<Action<Stream<H::Watch>>> {
    let access = Access {
        request: req,
        requirement: access::requirement(&route, &req.method),
    };
    if let Some(node) = forward_target(host, req, query, &route, &access)? {
        return Ok(Action::Forward(crate::cluster::forward_to(node)));
    }
    let response = match route {
        Route::Metadata => match req.method.as_str() {
            "GET" => read_metadata(host, &access, query)?,
            "POST" => apply_metadata(host, &access, req, query)?,
            _ => return Err(ApiError::invalid_method()),
        },
        Route::HostStats => {
            access.node(host)?;
            Response::json(&stats::host_body(host.host_stats().as_ref()), query)
        }
        Route::GcAll => {
            access.node(host)?;
            gc_all(host);
            Response::empty()
        }
        Route::Fs(op, alloc_id) => return fs_dispatch(host, &access, op, &alloc_id, query),
        Route::AllocStats(alloc_id) => {
            access.allocation(host, &alloc_id)?;
            let usage = host.allocation_usage(&alloc_id);
            let only = query.get("task").filter(|t| !t.is_empty());
            Response::json(&stats::allocation_body(&usage, only), query)
        }
        Route::AllocGc(alloc_id) => {
            let allocation = access.allocation(host, &alloc_id)?;
            if !allocation.client_status.is_terminal() {
                // Nomad says 500; nothing failed, the allocation is just still running.
                return Err(ApiError::bad_request(NOT_ELIGIBLE));
            }
            host.collect(&alloc_id).map_err(collect_error)?;
            Response::empty()
        }
        Route::AllocUnsupported(action) => {
            return Err(ApiError::not_implemented(format!(
                "caravan does not implement the allocation {action} endpoint"
            )));
        }
        Route::AclTokenSelf => crate::tokens::token_self(host, req, query)?,
        Route::AclBootstrap => crate::tokens::bootstrap(host, req, query)?,
        Route::NodeRegister => crate::register::register(host, &access, req)?,
        Route::Nodes => {
            access.node(host)?;
            Response::json(&crate::cluster::nodes_body(host), query)
        }
        Route::Node(id) => {
            access.node(host)?;
            Response::json(&crate::cluster::node_body(host, &id)?, query)
        }
        Route::Allocations => {
            access.authenticate(host)?;
            let namespace = query
                .get("namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or("default");
            Response::json(
                &crate::cluster::allocations_body(host, &access, namespace),
                query,
            )
        }
        Route::Allocation(id) => {
            Response::json(&crate::cluster::allocation_body(host, &access, &id)?, query)
        }
    };
    Ok(Action::Respond(response))
}

fn fs_dispatch<H: Host>(
    host: &H,
    access: &Access,
    op: FsOp,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch>>> {
    match op {
        FsOp::Ls => fs::ls(host, access, alloc_id, query).map(Action::Respond),
        FsOp::Stat => fs::stat(host, access, alloc_id, query).map(Action::Respond),
        FsOp::Cat => fs::cat(host, access, alloc_id, query),
        FsOp::ReadAt => fs::readat(host, access, alloc_id, query),
        FsOp::Stream => fs::stream(host, access, alloc_id, query),
        FsOp::Logs => {
            let (body, plain) = crate::logs::start(host, access, alloc_id, query)?;
            let content_type = if plain {
                "text/plain"
            } else {
                "application/json"
            };
            Ok(Action::Stream(StreamStart {
                status: 200,
                headers: vec![("Content-Type".into(), content_type.into())],
                body,
            }))
        }
    }
}

/// Where a request goes: another node when this server knows the allocation or node_id is
/// elsewhere, else here.
fn forward_target(
    host: &impl Host,
    req: &Request,
    query: &Query,
    route: &Route,
    access: &Access,
) -> ApiResult<Option<String>> {
    let node_id = || query.get("node_id").unwrap_or("").to_string();
    match route {
        Route::Fs(_, id) | Route::AllocStats(id) | Route::AllocGc(id) => {
            crate::cluster::locate_allocation(host, access, id)
        }
        Route::HostStats | Route::GcAll => crate::cluster::locate_node(host, access, &node_id()),
        Route::Metadata if req.method == "GET" => {
            crate::cluster::locate_node(host, access, &node_id())
        }
        Route::Metadata if req.method == "POST" => {
            let apply = meta::decode_apply(&req.body)?;
            let id = Some(node_id())
                .filter(|id| !id.is_empty())
                .unwrap_or(apply.node_id);
            crate::cluster::locate_node(host, access, &id)
        }
        _ => Ok(None),
    }
}

fn read_metadata(host: &impl Host, access: &Access, query: &Query) -> ApiResult<Response> {
    access.node(host)?;
    let static_meta = host.static_meta();
    let dynamic = host.dynamic_meta();
    Ok(meta_response(&static_meta, &dynamic, query))
}

fn apply_metadata(
    host: &impl Host,
    access: &Access,
    req: &Request,
    query: &Query,
) -> ApiResult<Response> {
    let apply = meta::decode_apply(&req.body)?;
    access.node(host)?;
    let changes = meta::validate(apply.meta.as_ref())?;
    let static_meta = host.static_meta();
    let dynamic = host
        .apply_meta(meta::plan(&static_meta, changes))
        .map_err(|e| ApiError::internal(format!("failed to store node metadata: {e}")))?;
    Ok(meta_response(&static_meta, &dynamic, query))
}

fn meta_response(
    static_meta: &std::collections::BTreeMap<String, String>,
    dynamic: &crate::host::DynamicMeta,
    query: &Query,
) -> Response {
    let body = json!({
        "Dynamic": meta::visible_dynamic(static_meta, dynamic),
        "Meta": meta::merged(static_meta, dynamic),
        "Static": static_meta,
    });
    Response::json(&body, query)
}

/// Nomad's one text for an allocation GC cannot take: gone, or not terminal (a race with
/// the check above; Nomad says 500, caravan 400 as nothing failed). Only a host fault is 500.
fn collect_error(err: CollectError) -> ApiError {
    match err {
        CollectError::NotFound | CollectError::NotTerminal => ApiError::bad_request(NOT_ELIGIBLE),
        CollectError::Io(message) => ApiError::internal(message),
    }
}

const NOT_ELIGIBLE: &str = "No such allocation on client, or allocation not eligible for GC";

/// Collect every terminal allocation; a failure is logged and the rest go on, as Nomad's
/// asynchronous collector would. One collected or restarted meanwhile is skipped quietly.
fn gc_all(host: &impl Host) {
    for allocation in host.allocations() {
        if !allocation.client_status.is_terminal() {
            continue;
        }
        match host.collect(&allocation.id) {
            Ok(()) | Err(CollectError::NotFound | CollectError::NotTerminal) => {}
            Err(CollectError::Io(err)) => host.log(
                LogLevel::Error,
                &format!("failed to collect allocation {}: {err}", allocation.id),
            ),
        }
    }
}

fn is_preflight(req: &Request) -> bool {
    req.method == "OPTIONS" && req.header("access-control-request-method").is_some()
}

/// rs/cors as Nomad configures it (GET and HEAD allowed, any header, credentials), except
/// that the request's Origin is reflected: browsers refuse `*` with credentials.
fn preflight(req: &Request) -> Response {
    let mut headers = vec![(
        "Vary".to_string(),
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_string(),
    )];
    let method = req
        .header("access-control-request-method")
        .unwrap_or("")
        .to_ascii_uppercase();
    if let Some(origin) = req.header("origin").filter(|o| !o.is_empty())
        && matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
    {
        headers.push(("Access-Control-Allow-Origin".into(), origin.into()));
        headers.push(("Access-Control-Allow-Methods".into(), method));
        if let Some(requested) = req
            .header("access-control-request-headers")
            .filter(|h| !h.is_empty())
        {
            headers.push(("Access-Control-Allow-Headers".into(), requested.into()));
        }
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    Response {
        status: 204,
        headers,
        body: Vec::new(),
    }
}

fn add_cors_headers(req: &Request, headers: &mut Vec<(String, String)>) {
    headers.push(("Vary".into(), "Origin".into()));
    if let Some(origin) = req.header("origin").filter(|o| !o.is_empty())
        && matches!(req.method.as_str(), "GET" | "HEAD")
    {
        headers.push(("Access-Control-Allow-Origin".into(), origin.into()));
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
}

#[cfg(test)]
mod tests {
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
}
