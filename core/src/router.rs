//! Which handler a path reaches, decided the way Nomad's `http.ServeMux` and sub-dispatchers
//! decide it, except that unclean paths are cleaned in place instead of redirected
//! (python-nomad does not follow redirects; nomad-tools sends `/v1//client/...`).

use crate::http::{ApiError, ApiResult};

/// The file-system operations under `/v1/client/fs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsOp {
    Ls,
    Stat,
    ReadAt,
    Cat,
    Stream,
    Logs,
}

/// Every route the core serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Metadata,
    HostStats,
    GcAll,
    Fs(FsOp, String),
    AllocStats(String),
    AllocGc(String),
    /// `allocation/:id/restart`: restart one task or all in place.
    AllocRestart(String),
    /// `allocation/:id/signal`: signal one task or all.
    AllocSignal(String),
    /// `allocation/:id/checks`: the allocation's health-check results.
    AllocChecks(String),
    /// `allocation/:id/exec`: a command in a task over a WebSocket.
    AllocExec(String),
    /// An allocation endpoint caravan does not implement (snapshot, pause): (alloc id,
    /// action).
    AllocUnsupported(String, String),
    /// `/v1/acl/token/self`: the caller's own token.
    AclTokenSelf,
    /// `/v1/acl/bootstrap`: the first management token.
    AclBootstrap,
    /// `/v1/internal/node/register`: a client's heartbeat to a server (caravan's own).
    NodeRegister,
    /// `/v1/nodes`: the client nodes this agent knows.
    Nodes,
    /// `/v1/node/:id`.
    Node(String),
    /// `/v1/allocations`.
    Allocations,
    /// `/v1/allocation/:id`.
    Allocation(String),
    /// `/ui` and everything under `/ui/`: the web UI's assets (the cleaned path).
    Ui(String),
}

/// The name of every route, so tests can prove they cover them all.
pub const NAMES: &[&str] = &[
    "metadata",
    "stats",
    "gc",
    "fs/ls",
    "fs/stat",
    "fs/readat",
    "fs/cat",
    "fs/stream",
    "fs/logs",
    "allocation/stats",
    "allocation/gc",
    "allocation/restart",
    "allocation/signal",
    "allocation/checks",
    "allocation/exec",
    "allocation/unsupported",
    "acl/token/self",
    "acl/bootstrap",
    "node/register",
    "nodes",
    "node",
    "allocations",
    "allocation",
    "ui",
];

impl Route {
    /// This route's entry in [`NAMES`].
    pub fn name(&self) -> &'static str {
        match self {
            Route::Metadata => "metadata",
            Route::HostStats => "stats",
            Route::GcAll => "gc",
            Route::Fs(FsOp::Ls, _) => "fs/ls",
            Route::Fs(FsOp::Stat, _) => "fs/stat",
            Route::Fs(FsOp::ReadAt, _) => "fs/readat",
            Route::Fs(FsOp::Cat, _) => "fs/cat",
            Route::Fs(FsOp::Stream, _) => "fs/stream",
            Route::Fs(FsOp::Logs, _) => "fs/logs",
            Route::AllocStats(_) => "allocation/stats",
            Route::AllocGc(_) => "allocation/gc",
            Route::AllocRestart(_) => "allocation/restart",
            Route::AllocSignal(_) => "allocation/signal",
            Route::AllocChecks(_) => "allocation/checks",
            Route::AllocExec(_) => "allocation/exec",
            Route::AllocUnsupported(..) => "allocation/unsupported",
            Route::AclTokenSelf => "acl/token/self",
            Route::AclBootstrap => "acl/bootstrap",
            Route::NodeRegister => "node/register",
            Route::Nodes => "nodes",
            Route::Node(_) => "node",
            Route::Allocations => "allocations",
            Route::Allocation(_) => "allocation",
            Route::Ui(_) => "ui",
        }
    }

    /// The route's path pattern, ids as placeholders (`/v1/client/fs/cat/:alloc_id`): a
    /// bounded set, for labels (the host's request metrics) that must never carry an id.
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Metadata => "/v1/client/metadata",
            Route::HostStats => "/v1/client/stats",
            Route::GcAll => "/v1/client/gc",
            Route::Fs(FsOp::Ls, _) => "/v1/client/fs/ls/:alloc_id",
            Route::Fs(FsOp::Stat, _) => "/v1/client/fs/stat/:alloc_id",
            Route::Fs(FsOp::ReadAt, _) => "/v1/client/fs/readat/:alloc_id",
            Route::Fs(FsOp::Cat, _) => "/v1/client/fs/cat/:alloc_id",
            Route::Fs(FsOp::Stream, _) => "/v1/client/fs/stream/:alloc_id",
            Route::Fs(FsOp::Logs, _) => "/v1/client/fs/logs/:alloc_id",
            Route::AllocStats(_) => "/v1/client/allocation/:alloc_id/stats",
            Route::AllocGc(_) => "/v1/client/allocation/:alloc_id/gc",
            Route::AllocRestart(_) => "/v1/client/allocation/:alloc_id/restart",
            Route::AllocSignal(_) => "/v1/client/allocation/:alloc_id/signal",
            Route::AllocChecks(_) => "/v1/client/allocation/:alloc_id/checks",
            Route::AllocExec(_) => "/v1/client/allocation/:alloc_id/exec",
            Route::AllocUnsupported(_, action) => match action.as_str() {
                "snapshot" => "/v1/client/allocation/:alloc_id/snapshot",
                _ => "/v1/client/allocation/:alloc_id/pause",
            },
            Route::AclTokenSelf => "/v1/acl/token/self",
            Route::AclBootstrap => "/v1/acl/bootstrap",
            Route::NodeRegister => REGISTER_PATH,
            Route::Nodes => "/v1/nodes",
            Route::Node(_) => "/v1/node/:node_id",
            Route::Allocations => "/v1/allocations",
            Route::Allocation(_) => "/v1/allocation/:alloc_id",
            Route::Ui(_) => "/ui/*",
        }
    }

    /// Nomad wraps every client route in CORS handling except `/v1/client/gc`.
    pub fn cors(&self) -> bool {
        !matches!(
            self,
            Route::GcAll
                | Route::AclTokenSelf
                | Route::AclBootstrap
                | Route::NodeRegister
                | Route::Nodes
                | Route::Node(_)
                | Route::Allocations
                | Route::Allocation(_)
                | Route::Ui(_)
        )
    }
}

/// Where a client registers with a server (its heartbeat); the host's heartbeat uses it.
pub const REGISTER_PATH: &str = "/v1/internal/node/register";

const FS_PREFIX: &str = "/v1/client/fs/";
const ALLOC_PREFIX: &str = "/v1/client/allocation/";

/// Route a decoded path. Unknown paths are 404 with an empty body, as Nomad's fallthrough.
pub fn route(raw_path: &str) -> ApiResult<Route> {
    let decoded = crate::params::decode_path(raw_path)
        .ok_or_else(|| ApiError::bad_request("invalid URL escape in path"))?;
    let path = clean(&decoded);
    match path.as_str() {
        "/v1/client/metadata" => return Ok(Route::Metadata),
        "/v1/client/stats" => return Ok(Route::HostStats),
        "/v1/client/gc" => return Ok(Route::GcAll),
        "/v1/acl/token/self" => return Ok(Route::AclTokenSelf),
        "/v1/acl/bootstrap" => return Ok(Route::AclBootstrap),
        REGISTER_PATH => return Ok(Route::NodeRegister),
        "/v1/nodes" => return Ok(Route::Nodes),
        "/v1/allocations" => return Ok(Route::Allocations),
        _ => {}
    }
    if path == "/ui" || path.starts_with("/ui/") {
        return Ok(Route::Ui(path));
    }
    if let Some(rest) = path.strip_prefix(FS_PREFIX) {
        return fs_route(rest);
    }
    if let Some(rest) = path.strip_prefix(ALLOC_PREFIX) {
        return alloc_route(rest);
    }
    for (prefix, make) in [
        ("/v1/node/", Route::Node as fn(String) -> Route),
        ("/v1/allocation/", Route::Allocation),
    ] {
        if let Some(id) = path
            .strip_prefix(prefix)
            .filter(|id| !id.is_empty() && !id.contains('/'))
        {
            return Ok(make(id.to_string()));
        }
    }
    if path == "/v1/client/fs" {
        return Err(ApiError::not_found("Invalid method"));
    }
    Err(ApiError::not_found(""))
}

fn fs_route(rest: &str) -> ApiResult<Route> {
    const OPS: [(&str, FsOp); 6] = [
        ("ls/", FsOp::Ls),
        ("stat/", FsOp::Stat),
        ("readat/", FsOp::ReadAt),
        ("cat/", FsOp::Cat),
        ("stream/", FsOp::Stream),
        ("logs/", FsOp::Logs),
    ];
    for (prefix, op) in OPS {
        if let Some(alloc_id) = rest.strip_prefix(prefix) {
            if alloc_id.is_empty() {
                return Err(ApiError::bad_request("must provide a valid alloc id"));
            }
            return Ok(Route::Fs(op, alloc_id.to_string()));
        }
    }
    Err(ApiError::not_found("Invalid method"))
}

fn alloc_route(rest: &str) -> ApiResult<Route> {
    let tokens: Vec<&str> = rest.split('/').collect();
    let [alloc_id, action] = tokens.as_slice() else {
        return Err(ApiError::not_found("resource not found"));
    };
    let alloc_id = alloc_id.to_string();
    match *action {
        "stats" => Ok(Route::AllocStats(alloc_id)),
        "gc" => Ok(Route::AllocGc(alloc_id)),
        "restart" => Ok(Route::AllocRestart(alloc_id)),
        "signal" => Ok(Route::AllocSignal(alloc_id)),
        "checks" => Ok(Route::AllocChecks(alloc_id)),
        "exec" => Ok(Route::AllocExec(alloc_id)),
        "snapshot" | "pause" => Ok(Route::AllocUnsupported(alloc_id, action.to_string())),
        _ => Err(ApiError::not_found("resource not found")),
    }
}

/// Go's `path.Clean`, keeping a trailing slash as `ServeMux` does.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let mut cleaned = format!("/{}", parts.join("/"));
    if path.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

#[cfg(test)]
mod tests {
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
            "/",
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
            "/v1/internal/node/register",
            "/v1/nodes",
            "/v1/node/n",
            "/v1/allocations",
            "/v1/allocation/a",
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
}
