//! The route table: every route the core serves, each described once — its name, path
//! pattern, methods, CORS, ACL requirement and where it is answered — in [`Route::spec`], an
//! exhaustive `match` the compiler checks. Parsing ([`route`]), the access check, forwarding
//! and [`dispatch`] all read from it, so a new route is one row here plus its handler
//! (docs/architecture.md, "Where a new route goes").
//!
//! Paths are matched the way Nomad's `http.ServeMux` and sub-dispatchers match them, except
//! that unclean paths are cleaned in place instead of redirected (python-nomad does not
//! follow redirects; nomad-tools sends `/v1//client/...`).

use std::sync::LazyLock;

use crate::acl::Requirement::{self, Namespace, NodeRead, NodeWrite};
use crate::acl::access::Access;
use crate::alloc::{exec, gc, lifecycle};
use crate::cluster::Locate;
use crate::cluster::register;
use crate::fs::logs;
use crate::fs::stream::{Stream, job};
use crate::host::Host;
use crate::http::{Action, ApiError, ApiResult, Request, Response, StreamStart};
use crate::node::{meta, stats};
use crate::wire::params::Query;
use crate::{cluster, fs, ui};
use crate::{policies, tokens};

/// The file-system operations under `/v1/client/fs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsOp {
    /// `fs/ls`: a directory's entries.
    Ls,
    /// `fs/stat`: one path's metadata.
    Stat,
    /// `fs/readat`: a byte range of a file.
    ReadAt,
    /// `fs/cat`: a whole file.
    Cat,
    /// `fs/stream`: a file followed, in frames.
    Stream,
    /// `fs/logs`: a task's logs, in frames.
    Logs,
}

/// Every route the core serves, with what its path carries; [`Route::spec`] describes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v1/client/metadata`: this node's metadata.
    Metadata,
    /// `/v1/client/stats`: host-wide usage.
    HostStats,
    /// `/v1/client/gc`: collect every terminal allocation.
    GcAll,
    /// `/v1/client/fs/<op>/:alloc_id`, with the path the query names.
    Fs(FsOp, String),
    /// `allocation/:id/stats`: the allocation's usage.
    AllocStats(String),
    /// `allocation/:id/gc`: collect one terminal allocation.
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
    /// `/v1/acl/policies`: the policies the caller may see.
    AclPolicies,
    /// `/v1/acl/policy/:name`: read, create or replace, delete.
    AclPolicy(String),
    /// `/v1/acl/tokens`: every token (management).
    AclTokens,
    /// `/v1/acl/token`: create a token.
    AclTokenCreate,
    /// `/v1/acl/token/:accessor_id`: read, update, delete.
    AclToken(String),
    /// `/v1/internal/acl/resolve`: a client agent asks its server who a secret is
    /// (caravan's own; authenticated like a heartbeat).
    AclResolve,
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
    /// `/v1/job/:job_id/logs`: every allocation's logs, merged (caravan's own).
    JobLogs(String),
    /// `/ui` and everything under `/ui/`: the web UI's assets (the cleaned path).
    Ui(String),
}

/// One row of the table: everything decided about a route before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec<'a> {
    /// Short and unique: the tests prove every route is covered by these names.
    pub name: &'static str,
    /// The path, ids as placeholders (`/v1/client/fs/cat/:alloc_id`): it is what [`route`]
    /// matches, and, as a bounded set, the label of the host's request metrics (never an id).
    pub pattern: &'static str,
    /// The methods it takes, and who refuses the others.
    pub methods: Methods,
    /// Whether Nomad's CORS handler wraps it.
    pub cors: Cors,
    /// What the caller's token must allow.
    pub acl: Needs,
    /// Where it is answered: here, or on the node that holds what it names.
    pub locate: Locate<'a>,
}

/// Which methods a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// Any method: Nomad's handler never looks.
    Any,
    /// Only these; any other is Nomad's 405 `Invalid method`, after forwarding (the node
    /// answers for itself) and before the handler.
    Only(&'static [&'static str]),
    /// Only these, refused by the handler itself: Nomad checks something else first (that
    /// the route exists on this agent, or the WebSocket handshake).
    InHandler(&'static [&'static str]),
}

/// Whether Nomad wraps the route in its CORS handler (every client route but GC-all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cors {
    /// Inside Nomad's CORS handler: preflights answered, CORS headers added.
    Wrapped,
    /// Outside it: no CORS headers.
    Bare,
}

/// What the caller's token must allow ([`Access`] checks it where the handler looks the
/// allocation or node up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing checked here: public (the UI's assets), or the handler resolves the token
    /// itself (the ACL token routes).
    Nothing,
    /// This, whatever the method.
    Always(Requirement),
    /// The first for reads, the second for a POST (node metadata).
    ReadWrite(Requirement, Requirement),
}

const GET: &[&str] = &["GET"];
const GET_HEAD: &[&str] = &["GET", "HEAD"];
const GET_POST: &[&str] = &["GET", "POST"];
const POST_PUT: &[&str] = &["POST", "PUT"];
const READ_WRITE_DELETE: &[&str] = &["GET", "POST", "PUT", "DELETE"];

/// Where a client registers with a server (its heartbeat); the host's heartbeat uses it.
pub const REGISTER_PATH: &str = "/v1/internal/node/register";

impl Route {
    /// The table: one row per route.
    #[rustfmt::skip]
    pub fn spec(&self) -> Spec<'_> {
        use {Cors::*, Locate::*, Methods::*, Needs::*};
        let row = |name, pattern, methods, cors, acl, locate| Spec { name, pattern, methods, cors, acl, locate };
        match self {
            //                             name                       pattern                                      methods               cors      acl                                                   locate
            Route::Metadata         => row("metadata",                "/v1/client/metadata",                       Only(GET_POST),       Wrapped,  ReadWrite(NodeRead, NodeWrite),                       NodeOrBody),
            Route::HostStats        => row("stats",                   "/v1/client/stats",                          Any,                  Wrapped,  Always(NodeRead),                                     Node),
            Route::GcAll            => row("gc",                      "/v1/client/gc",                             Any,                  Bare,     Always(NodeWrite),                                    Node),
            Route::Fs(op, id)       => row(op.name(),                 op.pattern(),                                Any,                  Wrapped,  Always(op.requirement()),                             Allocation(id)),
            Route::AllocStats(id)   => row("allocation/stats",        "/v1/client/allocation/:alloc_id/stats",     Any,                  Wrapped,  Always(Namespace(&["read-job"])),                     Allocation(id)),
            Route::AllocGc(id)      => row("allocation/gc",           "/v1/client/allocation/:alloc_id/gc",        Any,                  Wrapped,  Always(Namespace(&["submit-job", "gc-allocation"])),  Allocation(id)),
            Route::AllocRestart(id) => row("allocation/restart",      "/v1/client/allocation/:alloc_id/restart",   Only(POST_PUT),       Wrapped,  Always(Namespace(&["alloc-lifecycle"])),              Allocation(id)),
            Route::AllocSignal(id)  => row("allocation/signal",       "/v1/client/allocation/:alloc_id/signal",    Only(POST_PUT),       Wrapped,  Always(Namespace(&["alloc-lifecycle"])),              Allocation(id)),
            Route::AllocChecks(id)  => row("allocation/checks",       "/v1/client/allocation/:alloc_id/checks",    Only(GET),            Wrapped,  Always(Namespace(&["read-job"])),                     Allocation(id)),
            // And `alloc-node-exec` after the parameters, as Nomad (`exec::start`).
            Route::AllocExec(id)    => row("allocation/exec",         "/v1/client/allocation/:alloc_id/exec",      InHandler(GET),       Wrapped,  Always(Namespace(&["alloc-exec"])),                   Allocation(id)),
            // Checked before answering that caravan does not implement them yet, with the
            // capability Nomad requires, so nobody learns more than they may.
            Route::AllocUnsupported(_, action) => match action.as_str() {
                "snapshot"          => row("allocation/unsupported",  "/v1/client/allocation/:alloc_id/snapshot",  Any,                  Wrapped,  Always(Namespace(&["read-job"])),                     Here),
                _                   => row("allocation/unsupported",  "/v1/client/allocation/:alloc_id/pause",     Any,                  Wrapped,  Always(Namespace(&["alloc-lifecycle"])),              Here),
            },
            Route::AclTokenSelf     => row("acl/token/self",          "/v1/acl/token/self",                        Only(GET),            Bare,     Nothing,                                              Here),
            Route::AclBootstrap     => row("acl/bootstrap",           "/v1/acl/bootstrap",                         Only(POST_PUT),       Bare,     Nothing,                                              Here),
            // The ACL API: each handler resolves the caller itself (management, or the
            // token's own policy or self; docs/acl.md).
            Route::AclPolicies      => row("acl/policies",            "/v1/acl/policies",                          Only(GET),            Bare,     Nothing,                                              Here),
            Route::AclPolicy(_)     => row("acl/policy",              "/v1/acl/policy/:name",                      Only(READ_WRITE_DELETE), Bare,  Nothing,                                              Here),
            Route::AclTokens        => row("acl/tokens",              "/v1/acl/tokens",                            Only(GET),            Bare,     Nothing,                                              Here),
            Route::AclTokenCreate   => row("acl/token",               "/v1/acl/token",                             Only(POST_PUT),       Bare,     Nothing,                                              Here),
            Route::AclToken(_)      => row("acl/token/accessor",      "/v1/acl/token/:accessor_id",                Only(READ_WRITE_DELETE), Bare,  Nothing,                                              Here),
            // Servers only (404 elsewhere, like registration), so the method is checked after.
            Route::AclResolve       => row("acl/resolve",             "/v1/internal/acl/resolve",                  InHandler(POST_PUT),  Bare,     Always(NodeWrite),                                    Here),
            // Nomad's `Node.Register` is for clients only; over HTTP caravan asks node write.
            Route::NodeRegister     => row("node/register",           REGISTER_PATH,                               InHandler(POST_PUT),  Bare,     Always(NodeWrite),                                    Here),
            Route::Nodes            => row("nodes",                   "/v1/nodes",                                 Any,                  Bare,     Always(NodeRead),                                     Here),
            Route::Node(_)          => row("node",                    "/v1/node/:node_id",                         Any,                  Bare,     Always(NodeRead),                                     Here),
            Route::Allocations      => row("allocations",             "/v1/allocations",                           Any,                  Bare,     Always(Namespace(&["read-job"])),                     Here),
            Route::Allocation(_)    => row("allocation",              "/v1/allocation/:alloc_id",                  Any,                  Bare,     Always(Namespace(&["read-job"])),                     Here),
            // Checked again for each allocation's namespace (`fs::job_logs`); a server reads
            // the other nodes itself, so it is answered here.
            Route::JobLogs(_)       => row("job/logs",                "/v1/job/:job_id/logs",                      Only(GET),            Wrapped,  Always(job::READ_LOGS),                               Here),
            // The UI's assets are public, as Nomad's: every call the page makes checks the token.
            // `/` is routed here too: Nomad redirects it to `/ui/`.
            Route::Ui(_)            => row("ui",                      "/ui/*",                                     InHandler(GET_HEAD),  Bare,     Nothing,                                              Here),
        }
    }

    /// This route's entry in [`NAMES`].
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The route's path pattern (see [`Spec::pattern`]).
    pub fn pattern(&self) -> &'static str {
        self.spec().pattern
    }

    /// Whether Nomad wraps the route in CORS handling.
    pub fn cors(&self) -> bool {
        self.spec().cors == Cors::Wrapped
    }
}

impl Spec<'_> {
    /// What a caller needs for this method, from the row's [`Needs`].
    pub fn requirement(&self, method: &str) -> Option<Requirement> {
        match self.acl {
            Needs::Nothing => None,
            Needs::Always(requirement) => Some(requirement),
            Needs::ReadWrite(_, write) if method == "POST" => Some(write),
            Needs::ReadWrite(read, _) => Some(read),
        }
    }
}

impl FsOp {
    #[rustfmt::skip]
    fn name(self) -> &'static str {
        match self {
            FsOp::Ls => "fs/ls", FsOp::Stat => "fs/stat", FsOp::ReadAt => "fs/readat",
            FsOp::Cat => "fs/cat", FsOp::Stream => "fs/stream", FsOp::Logs => "fs/logs",
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            FsOp::Ls => "/v1/client/fs/ls/:alloc_id",
            FsOp::Stat => "/v1/client/fs/stat/:alloc_id",
            FsOp::ReadAt => "/v1/client/fs/readat/:alloc_id",
            FsOp::Cat => "/v1/client/fs/cat/:alloc_id",
            FsOp::Stream => "/v1/client/fs/stream/:alloc_id",
            FsOp::Logs => "/v1/client/fs/logs/:alloc_id",
        }
    }

    fn requirement(self) -> Requirement {
        match self {
            FsOp::Logs => Namespace(&["read-logs", "read-fs"]),
            _ => Namespace(&["read-fs"]),
        }
    }
}

/// Every route, built from the id its path carries (unused by routes without one): what
/// [`route`] tries in turn, and where [`NAMES`] come from.
pub const ALL: &[fn(String) -> Route] = &[
    |_| Route::Metadata,
    |_| Route::HostStats,
    |_| Route::GcAll,
    |id| Route::Fs(FsOp::Ls, id),
    |id| Route::Fs(FsOp::Stat, id),
    |id| Route::Fs(FsOp::ReadAt, id),
    |id| Route::Fs(FsOp::Cat, id),
    |id| Route::Fs(FsOp::Stream, id),
    |id| Route::Fs(FsOp::Logs, id),
    Route::AllocStats,
    Route::AllocGc,
    Route::AllocRestart,
    Route::AllocSignal,
    Route::AllocChecks,
    Route::AllocExec,
    |id| Route::AllocUnsupported(id, "snapshot".into()),
    |id| Route::AllocUnsupported(id, "pause".into()),
    |_| Route::AclTokenSelf,
    |_| Route::AclBootstrap,
    |_| Route::AclPolicies,
    Route::AclPolicy,
    |_| Route::AclTokens,
    |_| Route::AclTokenCreate,
    // After `acl/token/self`, whose path this pattern also matches.
    Route::AclToken,
    |_| Route::AclResolve,
    |_| Route::NodeRegister,
    |_| Route::Nodes,
    Route::Node,
    |_| Route::Allocations,
    Route::Allocation,
    Route::JobLogs,
    Route::Ui,
];

/// The name of every route, so tests can prove they cover them all.
pub static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<_> = ALL.iter().map(|make| make(String::new()).name()).collect();
    names.dedup();
    names
});

const FS_PREFIX: &str = "/v1/client/fs/";
const ALLOC_PREFIX: &str = "/v1/client/allocation/";

/// Route a decoded path. Unknown paths are 404 with an empty body, as Nomad's fallthrough.
pub fn route(raw_path: &str) -> ApiResult<Route> {
    let decoded = crate::wire::params::decode_path(raw_path)
        .ok_or_else(|| ApiError::bad_request("invalid URL escape in path"))?;
    let path = clean(&decoded);
    // `/` is where the agent's printed address leads: Nomad sends it to the UI.
    if path == "/" || path == "/ui" || path.starts_with("/ui/") {
        return Ok(Route::Ui(path));
    }
    for make in ALL {
        if let Some(id) = capture(make(String::new()).pattern(), &path)? {
            return Ok(make(id));
        }
    }
    // Nothing matched: the texts of Nomad's sub-dispatchers, else its fallthrough.
    if path.starts_with(ALLOC_PREFIX) {
        return Err(ApiError::not_found("resource not found"));
    }
    if path == "/v1/client/fs" || path.starts_with(FS_PREFIX) {
        return Err(ApiError::not_found("Invalid method"));
    }
    Err(ApiError::not_found(""))
}

/// The id `path` carries if it matches `pattern` (an empty one for a pattern without a
/// placeholder). A placeholder is one non-empty segment, except under `/v1/client/fs/`,
/// where Nomad's handlers take everything after the operation, slashes included.
fn capture(pattern: &str, path: &str) -> ApiResult<Option<String>> {
    let Some((prefix, placeholder)) = pattern.split_once(':') else {
        return Ok((pattern == path).then(String::new));
    };
    let suffix = placeholder.find('/').map_or("", |i| &placeholder[i..]);
    let Some(id) = path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
    else {
        return Ok(None);
    };
    if prefix.starts_with(FS_PREFIX) {
        if id.is_empty() {
            return Err(ApiError::bad_request("must provide a valid alloc id"));
        }
        return Ok(Some(id.to_string()));
    }
    Ok((!id.is_empty() && !id.contains('/')).then(|| id.to_string()))
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

/// Answer a routed request: its row's access requirement, forwarding and methods, then
/// its handler.
pub fn dispatch<H: Host>(
    host: &H,
    req: &Request,
    query: &Query,
    route: Route,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    let spec = route.spec();
    let access = Access {
        request: req,
        requirement: spec.requirement(&req.method),
    };
    if let Some(node) = cluster::forward_target(host, req, query, spec.locate, &access)? {
        return Ok(Action::Forward(cluster::forward_to(node)));
    }
    if let Methods::Only(methods) = spec.methods
        && !methods.contains(&req.method.as_str())
    {
        return Err(ApiError::invalid_method());
    }
    let response = match route {
        Route::Metadata if req.method == "GET" => meta::read(host, &access, query)?,
        Route::Metadata => meta::apply(host, &access, req, query)?,
        Route::HostStats => {
            access.node(host)?;
            Response::json(&stats::host_body(host.host_stats().as_ref()), query)
        }
        Route::GcAll => {
            access.node(host)?;
            gc::all(host);
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
            gc::allocation(host, &access, &alloc_id)?;
            Response::empty()
        }
        Route::AllocRestart(alloc_id) => {
            lifecycle::restart(host, &access, &alloc_id, &req.method, &req.body)?;
            Response::json(&lifecycle::generic_response(), query)
        }
        Route::AllocSignal(alloc_id) => {
            lifecycle::signal(host, &access, &alloc_id, &req.method, &req.body)?;
            Response::json(&lifecycle::generic_response(), query)
        }
        Route::AllocChecks(alloc_id) => {
            Response::json(&lifecycle::checks(host, &access, &alloc_id)?, query)
        }
        Route::AllocExec(alloc_id) => {
            return Ok(Action::Exec(exec::start(
                host, &access, &alloc_id, req, query,
            )?));
        }
        Route::AllocUnsupported(alloc_id, action) => {
            access.allocation(host, &alloc_id)?;
            return Err(ApiError::not_implemented(format!(
                "caravan does not implement the allocation {action} endpoint"
            )));
        }
        Route::AclTokenSelf => tokens::token_self(host, req, query)?,
        Route::AclBootstrap => tokens::bootstrap(host, query)?,
        Route::AclPolicies => policies::list(host, req, query)?,
        Route::AclPolicy(name) => policies::by_name(host, req, query, &name)?,
        Route::AclTokens => tokens::list(host, req, query)?,
        Route::AclTokenCreate => tokens::create(host, req, query)?,
        Route::AclToken(accessor) => tokens::by_accessor(host, req, query, &accessor)?,
        Route::AclResolve => tokens::resolve_for_client(host, &access, req, query)?,
        Route::NodeRegister => register::register(host, &access, req)?,
        Route::Nodes => {
            access.node(host)?;
            Response::json(&cluster::nodes_body(host), query)
        }
        Route::Node(id) => {
            access.node(host)?;
            Response::json(&cluster::node_body(host, &id)?, query)
        }
        Route::Allocations => {
            let namespace = query
                .get("namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or("default");
            // Nomad's `Alloc.List`: `read-job` in the namespace asked for (for `*`, in any),
            // else 403; then only the allocations of namespaces the caller may read.
            access.namespace(host, namespace)?;
            Response::json(&cluster::allocations_body(host, &access, namespace), query)
        }
        Route::Allocation(id) => {
            Response::json(&cluster::allocation_body(host, &access, &id)?, query)
        }
        Route::JobLogs(job) => {
            let body = fs::job_logs::start(host, &access, &job, query, !cluster::forwarded(req))?;
            return Ok(Action::Stream(StreamStart::ok("application/json", body)));
        }
        Route::Ui(path) => ui::serve(host, req, &path)?,
    };
    Ok(Action::Respond(response))
}

fn fs_dispatch<H: Host>(
    host: &H,
    access: &Access,
    op: FsOp,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    match op {
        FsOp::Ls => fs::ls(host, access, alloc_id, query),
        FsOp::Stat => fs::stat(host, access, alloc_id, query).map(Action::Respond),
        FsOp::Cat => fs::cat(host, access, alloc_id, query),
        FsOp::ReadAt => fs::readat(host, access, alloc_id, query),
        FsOp::Stream => fs::stream(host, access, alloc_id, query),
        FsOp::Logs => {
            let (body, plain) = logs::start(host, access, alloc_id, query)?;
            let content_type = if plain {
                "text/plain"
            } else {
                "application/json"
            };
            Ok(Action::Stream(StreamStart::ok(content_type, body)))
        }
    }
}

#[cfg(test)]
mod tests;
