//! `/v1/agent/core`: the host's own endpoint, about the host rather than the API, and the
//! only route the host answers by itself (by design: it must work whatever the core does).
//! `GET` reports the active core and the swap history; `PUT` (or `POST`) swaps to the
//! component in the body, for management tokens only.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{Body, add_core_header, full, plain, respond};
use crate::metrics;
use crate::runtime::native::authorize_agent_core;
use crate::runtime::{MAX_CORE_SIZE, Runtime, Trigger};

/// The host's own route for the core.
pub(super) const AGENT_CORE_PATH: &str = "/v1/agent/core";

/// The host's own endpoint, about the host rather than the API: `GET` reports the active
/// core and the swap history, `PUT` (or `POST`) swaps to the component in the body.
pub(super) async fn agent_core(
    runtime: &Arc<Runtime>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let replace = match *req.method() {
        Method::GET => false,
        Method::PUT | Method::POST => true,
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
            add_core_header(&mut response, &runtime.active().version);
            return response;
        }
    };
    // Reading needs `agent:read`; replacing the API's behaviour a management token, checked
    // before the body is read.
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let ctx = runtime.context();
    let mut response = match authorize_agent_core(ctx, headers, replace) {
        Err(refusal) => {
            metrics::global().acl_denials.incr(&[AGENT_CORE_PATH]);
            respond(refusal)
        }
        Ok(()) if replace => swap_core(runtime, req.into_body(), peer).await,
        Ok(()) => core_status(runtime),
    };
    add_core_header(&mut response, &runtime.active().version);
    response
}

/// Swap to the component in `body`: the status after a swap, or 400 with the reason the
/// candidate was rejected.
async fn swap_core(runtime: &Arc<Runtime>, body: Incoming, peer: SocketAddr) -> Response<Body> {
    let Ok(collected) = Limited::new(body, MAX_CORE_SIZE).collect().await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "core component larger than {} MiB or unreadable",
                MAX_CORE_SIZE >> 20
            ),
        );
    };
    let bytes = collected.to_bytes();
    let swapped = {
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(move || runtime.swap(&bytes, Trigger::Admin(peer))).await
    };
    match swapped {
        Ok(Ok(_)) => core_status(runtime),
        Ok(Err(rejection)) => plain(
            StatusCode::BAD_REQUEST,
            &format!("core rejected: {rejection}"),
        ),
        Err(join) => {
            tracing::error!("core swap from {peer} failed: {join}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn core_status(runtime: &Runtime) -> Response<Body> {
    match serde_json::to_vec(&runtime.status()) {
        Ok(json) => {
            let mut response = Response::new(full(json));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => plain(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

/// Nomad's agent health check, answered by the host: `client` when this agent runs
/// allocations (it serves, so it is well), `server` when it is a server (with the etcd
/// registry, whether etcd is reachable and the view in sync). 200 when all is well, else
/// 500, as Nomad; no ACL, as Nomad.
pub(super) const AGENT_HEALTH_PATH: &str = "/v1/agent/health";

pub(super) fn agent_health(runtime: &Runtime, method: &Method) -> Response<Body> {
    if *method != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
    }
    let ctx = runtime.context();
    let roles = ctx.cluster.roles;
    let mut body = serde_json::Map::new();
    let mut healthy = true;
    if roles.client {
        body.insert(
            "client".into(),
            serde_json::json!({"ok": true, "message": "ok"}),
        );
    }
    if roles.server {
        let (ok, message) = ctx
            .cluster
            .nodes
            .health()
            .unwrap_or_else(|| (true, "ok".into()));
        healthy &= ok;
        body.insert(
            "server".into(),
            serde_json::json!({"ok": ok, "message": message}),
        );
    }
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(full(json));
    if !healthy {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
