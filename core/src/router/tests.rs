//! `router`'s tests: parsing, names and patterns.
use super::*;

fn err(path: &str) -> (u16, String) {
    let e = route(path).unwrap_err();
    (e.status, e.message)
}

#[test]
fn exact_routes() {
    assert_eq!(route("/v1/client/metadata"), Ok(Route::Metadata));
    assert_eq!(route("/v1/client/stats"), Ok(Route::HostStats));
    assert_eq!(route("/v1/client/gc"), Ok(Route::GcAll));
}

#[test]
fn exact_routes_with_trailing_slash_fall_through_to_empty_404() {
    for path in [
        "/v1/client/stats/",
        "/v1/client/gc/",
        "/v1/client/metadata/",
        "/v1/nope",
    ] {
        assert_eq!(err(path), (404, String::new()), "{path}");
    }
}

#[test]
fn fs_routes_take_everything_after_the_prefix_as_the_alloc_id() {
    assert_eq!(
        route("/v1/client/fs/ls/abc"),
        Ok(Route::Fs(FsOp::Ls, "abc".into()))
    );
    assert_eq!(
        route("/v1/client/fs/cat/abc/def"),
        Ok(Route::Fs(FsOp::Cat, "abc/def".into()))
    );
    assert_eq!(
        route("/v1/client/fs/logs/x"),
        Ok(Route::Fs(FsOp::Logs, "x".into()))
    );
    assert_eq!(
        route("/v1/client/fs/stream/x"),
        Ok(Route::Fs(FsOp::Stream, "x".into()))
    );
    assert_eq!(
        route("/v1/client/fs/readat/x"),
        Ok(Route::Fs(FsOp::ReadAt, "x".into()))
    );
    assert_eq!(
        route("/v1/client/fs/stat/x"),
        Ok(Route::Fs(FsOp::Stat, "x".into()))
    );
}

#[test]
fn fs_errors_match_nomad() {
    assert_eq!(
        err("/v1/client/fs/ls/"),
        (400, "must provide a valid alloc id".into())
    );
    assert_eq!(err("/v1/client/fs/"), (404, "Invalid method".into()));
    assert_eq!(err("/v1/client/fs"), (404, "Invalid method".into()));
    assert_eq!(err("/v1/client/fs/ls"), (404, "Invalid method".into()));
    assert_eq!(err("/v1/client/fs/foo/x"), (404, "Invalid method".into()));
}

#[test]
fn unclean_paths_are_cleaned_not_redirected() {
    assert_eq!(
        route("/v1//client/fs/logs/x"),
        Ok(Route::Fs(FsOp::Logs, "x".into()))
    );
    assert_eq!(route("/v1/./client/stats"), Ok(Route::HostStats));
    assert_eq!(route("/v1/client/x/../stats"), Ok(Route::HostStats));
    assert_eq!(route("/v1/client/%73tats"), Ok(Route::HostStats));
}

#[test]
fn allocation_routes_need_exactly_two_tokens() {
    assert_eq!(
        route("/v1/client/allocation/a/stats"),
        Ok(Route::AllocStats("a".into()))
    );
    assert_eq!(
        route("/v1/client/allocation/a/gc"),
        Ok(Route::AllocGc("a".into()))
    );
    assert_eq!(
        err("/v1/client/allocation/a"),
        (404, "resource not found".into())
    );
    assert_eq!(
        err("/v1/client/allocation/a/stats/x"),
        (404, "resource not found".into())
    );
    assert_eq!(
        err("/v1/client/allocation/a/nope"),
        (404, "resource not found".into())
    );
    assert_eq!(
        route("/v1/client/allocation/a/restart"),
        Ok(Route::AllocRestart("a".into()))
    );
    assert_eq!(
        route("/v1/client/allocation/a/exec"),
        Ok(Route::AllocExec("a".into()))
    );
}

#[test]
fn acl_token_paths_reach_self_before_an_accessor() {
    assert_eq!(route("/v1/acl/token/self"), Ok(Route::AclTokenSelf));
    assert_eq!(route("/v1/acl/token/x"), Ok(Route::AclToken("x".into())));
    assert_eq!(route("/v1/acl/token"), Ok(Route::AclTokenCreate));
    assert_eq!(
        route("/v1/acl/policy/ops"),
        Ok(Route::AclPolicy("ops".into()))
    );
}

#[test]
fn every_route_has_a_listed_name() {
    let paths = [
        "/v1/client/metadata",
        "/v1/client/stats",
        "/v1/client/gc",
        "/v1/client/fs/ls/a",
        "/v1/client/fs/stat/a",
        "/v1/client/fs/readat/a",
        "/v1/client/fs/cat/a",
        "/v1/client/fs/stream/a",
        "/v1/client/fs/logs/a",
        "/v1/client/allocation/a/stats",
        "/v1/client/allocation/a/gc",
        "/v1/client/allocation/a/restart",
        "/v1/client/allocation/a/signal",
        "/v1/client/allocation/a/checks",
        "/v1/client/allocation/a/exec",
        "/v1/client/allocation/a/pause",
        "/v1/acl/token/self",
        "/v1/acl/bootstrap",
        "/v1/acl/policies",
        "/v1/acl/policy/p",
        "/v1/acl/tokens",
        "/v1/acl/token",
        "/v1/acl/token/a",
        "/v1/internal/acl/resolve",
        "/v1/internal/node/register",
        "/v1/nodes",
        "/v1/node/n",
        "/v1/allocations",
        "/v1/allocation/a",
        "/v1/job/j/logs",
        "/ui/",
    ];
    let names: std::collections::BTreeSet<_> =
        paths.iter().map(|p| route(p).unwrap().name()).collect();
    assert_eq!(names, NAMES.iter().copied().collect());
}

#[test]
fn patterns_carry_no_ids() {
    let id = "5fc98185-17ff-26bc-a802-0c74fa471c99";
    for (path, pattern) in [
        (
            format!("/v1/client/fs/cat/{id}"),
            "/v1/client/fs/cat/:alloc_id",
        ),
        (
            format!("/v1/client/allocation/{id}/stats"),
            "/v1/client/allocation/:alloc_id/stats",
        ),
        (
            format!("/v1/client/allocation/{id}/exec"),
            "/v1/client/allocation/:alloc_id/exec",
        ),
        (format!("/v1/node/{id}"), "/v1/node/:node_id"),
        ("/ui/app.js".to_string(), "/ui/*"),
        ("/v1//client/./stats".to_string(), "/v1/client/stats"),
    ] {
        assert_eq!(route(&path).unwrap().pattern(), pattern, "{path}");
    }
}

#[test]
fn ui_routes_take_the_cleaned_path() {
    assert_eq!(route("/ui/"), Ok(Route::Ui("/ui/".into())));
    assert_eq!(route("/ui"), Ok(Route::Ui("/ui".into())));
    assert_eq!(route("/"), Ok(Route::Ui("/".into())));
    assert_eq!(route("//"), Ok(Route::Ui("/".into())));
    assert_eq!(route("//ui/./app.js"), Ok(Route::Ui("/ui/app.js".into())));
    assert_eq!(route("/ui/../v1/client/stats"), Ok(Route::HostStats));
    assert_eq!(err("/uix"), (404, String::new()));
}

#[test]
fn clean_matches_go() {
    assert_eq!(clean("/a//b/./c/../d/"), "/a/b/d/");
    assert_eq!(clean("/../.."), "/");
    assert_eq!(clean(""), "/");
}
