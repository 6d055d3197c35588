//! One request in, one action out: routing, the handlers of the non-fs routes, and CORS.

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
            Action::Exec(exec) => add_cors_headers(req, &mut exec.not_running.headers),
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
        Route::AllocRestart(alloc_id) => {
            crate::lifecycle::restart(host, &access, &alloc_id, &req.method, &req.body)?;
            Response::json(&crate::lifecycle::generic_response(), query)
        }
        Route::AllocSignal(alloc_id) => {
            crate::lifecycle::signal(host, &access, &alloc_id, &req.method, &req.body)?;
            Response::json(&crate::lifecycle::generic_response(), query)
        }
        Route::AllocChecks(alloc_id) => Response::json(
            &crate::lifecycle::checks(host, &access, &alloc_id, &req.method)?,
            query,
        ),
        Route::AllocExec(alloc_id) => {
            let exec = crate::exec::start(host, &access, &alloc_id, req, query)?;
            return Ok(Action::Exec(exec));
        }
        Route::AllocUnsupported(alloc_id, action) => {
            access.allocation(host, &alloc_id)?;
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
        Route::Ui(path) => crate::ui::serve(host, req, &path)?,
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
        Route::Fs(_, id)
        | Route::AllocStats(id)
        | Route::AllocGc(id)
        | Route::AllocRestart(id)
        | Route::AllocSignal(id)
        | Route::AllocChecks(id)
        | Route::AllocExec(id) => crate::cluster::locate_allocation(host, access, id),
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
    let statics = static_meta.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let body = crate::json::string_maps_to_vec(
        &[
            ("Dynamic", meta::visible_dynamic(static_meta, dynamic)),
            ("Meta", all_present(meta::merged(static_meta, dynamic))),
            ("Static", all_present(statics)),
        ],
        crate::http::pretty(query),
    );
    Response::json_encoded(body)
}

/// Entries of a map without tombstones, in the form of one that may have them.
fn all_present<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, Option<&'a str>)> {
    entries.into_iter().map(|(k, v)| (k, Some(v))).collect()
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
#[path = "api_tests.rs"]
mod tests;
