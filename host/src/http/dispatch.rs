//! One request: read it, let the core decide, carry the decision out. The host answers
//! nothing itself but `/v1/agent/core` and `/v1/metrics` (host-level by design: they must
//! work whatever core is loaded) and transport faults (a body over the limit, a core that
//! trapped). Every request is counted and timed here, by route pattern
//! ([`crate::metrics`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, VARY};
use hyper::{Request, Response, StatusCode};
use tracing::Instrument;

use super::admin::{AGENT_CORE_PATH, AGENT_HEALTH_PATH, agent_core, agent_health};
use super::forward::forward;
use super::gzip::{compress, wants_gzip};
use super::limits::{BodyError, MinDataRate, read_body};
use super::metrics::{METRICS_PATH, is_acl_denial, metrics_endpoint, route_label};
use super::pump::stream;
use super::send_file::send_file;
use super::shared::ServerState;
use super::{Body, add_core_header, plain, respond};
use crate::metrics;
use crate::registry::REGISTER_PATH;
use crate::runtime::{Decided, Decision};
use crate::wit::types;

/// Largest request body read (metadata applies are tiny); core swaps have their own limit.
const MAX_BODY: usize = 1 << 20;
/// A client has this long to send a request's body once its headers are in: a body that
/// never arrives must not hold a connection (and its file descriptor) forever.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One request in a span of its own (method, path and peer; never the query or a header,
/// which may carry a token), ending in one DEBUG line with the status and the time the
/// answer's head took (Nomad logs `request complete` at DEBUG too: a line per request at the
/// default level costs a write per request and buries what matters). Everything logged while
/// handling it carries the span. The same status and time are recorded in the metrics,
/// labelled by the route's pattern.
pub(super) async fn traced(
    shared: &Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = req.uri().path(),
        %peer
    );
    let method = method_label(req.method());
    let route = route_label(req.uri().path());
    let started = Instant::now();
    let response = handle(shared, req, peer, route)
        .instrument(span.clone())
        .await;
    let took = started.elapsed();
    let status = response.status();
    span.in_scope(|| {
        tracing::debug!(status = status.as_u16(), took = ?took, "request complete");
    });
    let metrics = metrics::global();
    metrics
        .http_requests
        .incr(&[method, route, status.as_str()]);
    metrics
        .http_request_duration
        .observe(&[method, route], took);
    response
}

/// A method label: the standard methods by name, anything else as `OTHER` (bounded).
fn method_label(method: &hyper::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

/// One request: read it, let the core decide, carry the decision out.
async fn handle(
    shared: &Arc<ServerState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    route: &'static str,
) -> Response<Body> {
    let runtime = &shared.runtime;
    // A client resolves a token it does not hold through its servers before anyone (the
    // core, or the host's own `/v1/agent/core` check) asks who the caller is.
    let secret = caravan_core::acl::request_token(|name| {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    });
    if let Some(secret) = secret {
        let compile = |name: &str, text: &str| runtime.compile_policy(name, text);
        runtime.context().acl.prepare(secret, &compile).await;
    }
    if req.uri().path() == AGENT_CORE_PATH {
        return agent_core(runtime, req, peer).await;
    }
    if req.uri().path() == AGENT_HEALTH_PATH {
        let mut response = agent_health(runtime, req.method());
        add_core_header(&mut response, &runtime.active().version);
        return response;
    }
    let gzip = wants_gzip(req.headers());
    if req.uri().path() == METRICS_PATH {
        let response = metrics_endpoint(shared, &req);
        return finish(response, &runtime.active().version, gzip);
    }
    // A WebSocket handshake keeps its upgrade, for an `alloc exec` the core may decide.
    let mut req = req;
    let upgrade = req
        .headers()
        .contains_key(hyper::header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let websocket_key = req
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_KEY)
        .and_then(|key| key.to_str().ok())
        .map(str::to_string);
    let request = match read_request(req, shared.options.min_body_rate).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let ctx = runtime.context();
    let _one_registration_at_a_time = if request.path == REGISTER_PATH {
        Some(shared.registrations.lock().await)
    } else {
        None
    };
    // The request moves to the blocking thread and comes back with the decision (a relay
    // still needs it), rather than being copied for every call.
    let core = shared.core.clone();
    let called = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let decided = core.decide(&request);
        metrics::record_core_call("handle", started, decided.is_err());
        (decided, request)
    })
    .await;
    let (decided, request) = match called {
        Ok(called) => called,
        Err(join) => {
            tracing::error!("{route}: request task failed: {join}");
            let response = plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            return finish(response, &shared.core.version(), false);
        }
    };
    let (response, version) = match decided {
        Ok(Decided { decision, version }) => {
            let response = match decision {
                Decision::Respond(r) => {
                    if is_acl_denial(&r) {
                        metrics::global().acl_denials.incr(&[route]);
                    }
                    respond(r)
                }
                Decision::SendFile(send) => send_file(&ctx, send, route).await,
                Decision::Stream {
                    status,
                    headers,
                    body,
                } => stream(shared, status, &headers, body, route),
                Decision::Forward(to) => {
                    metrics::global().http_forwarded.incr(&[route]);
                    let tls = shared.options.forward_tls.as_ref();
                    forward(&ctx, &shared.connections, tls, &request, &to, upgrade).await
                }
                Decision::Exec(exec) => super::exec::exec(&ctx, exec, upgrade, websocket_key),
            };
            (response, version)
        }
        Err(trap) => {
            tracing::error!(
                "{} {} from {peer}: the core failed: {trap:#}",
                request.method,
                request.path
            );
            let response = plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the core failed on this request",
            );
            (response, shared.core.version())
        }
    };
    // An upgraded connection's answer has no body to compress.
    let gzip = gzip && response.status() != StatusCode::SWITCHING_PROTOCOLS;
    finish(response, &version, gzip)
}

/// An answer after which the connection closes: the rest of a body that stopped arriving is
/// never read.
fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What every answer gets, whichever core decided it: the core's name, `Vary`, compression.
fn finish(mut response: Response<Body>, core_version: &str, gzip: bool) -> Response<Body> {
    add_core_header(&mut response, core_version);
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        response = compress(response);
    }
    response
}

async fn read_request(
    req: Request<Incoming>,
    rate: Option<MinDataRate>,
) -> Result<types::Request, Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = match read_body(body, MAX_BODY, BODY_READ_TIMEOUT, rate).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
        Err(BodyError::Malformed) => {
            return Err(plain(StatusCode::BAD_REQUEST, "malformed request body"));
        }
        Err(BodyError::TimedOut) => {
            return Err(closing(plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            )));
        }
        Err(BodyError::TooSlow) => {
            return Err(closing(plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body arrived below the minimum data rate",
            )));
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some(types::Pair {
                name: name.as_str().to_string(),
                value: value.to_string(),
            })
        })
        .collect();
    Ok(types::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
    })
}
