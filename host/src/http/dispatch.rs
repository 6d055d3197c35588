//! One request: read it, let the core decide, carry the decision out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, VARY};
use hyper::{Request, Response, StatusCode};

use super::admin::{AGENT_CORE_PATH, agent_core};
use super::forward::forward;
use super::gzip::{compress, wants_gzip};
use super::pump::stream;
use super::send_file::send_file;
use super::shared::Shared;
use super::{Body, add_core_header, full, full_response, plain, respond};
use crate::capabilities::HostContext;
use crate::capabilities::bindings::types;
use crate::capabilities::cluster::{REGISTER_PATH, Registration};
use crate::runtime::{Decided, Decision};

/// Largest request body read (metadata applies are tiny); core swaps have their own limit.
const MAX_BODY: usize = 1 << 20;
/// A client has this long to send a request's body once its headers are in: a body that
/// never arrives must not hold a connection (and its file descriptor) forever.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One request: read it, let the core decide, carry the decision out.
pub(super) async fn handle(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let runtime = &shared.runtime;
    if req.uri().path() == AGENT_CORE_PATH {
        return agent_core(runtime, req, peer).await;
    }
    let gzip = wants_gzip(req.headers());
    let request = match read_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let ctx = runtime.context();
    if request.path == "/v1/acl/bootstrap" {
        return acl_bootstrap(&ctx, &request.method);
    }
    if request.path == REGISTER_PATH {
        return register_node(&ctx, &request);
    }
    let started = Instant::now();
    let decided = {
        let core = shared.core.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || core.decide(&request)).await
    };
    let (response, version) = match decided {
        Ok(Ok(Decided { decision, version })) => {
            let response = match decision {
                Decision::Respond(r) => respond(r),
                Decision::SendFile(send) => send_file(&ctx, send).await,
                Decision::Stream {
                    status,
                    headers,
                    body,
                } => stream(shared, status, &headers, body),
                Decision::Forward(node) => forward(&ctx, &request, &node).await,
            };
            (response, version)
        }
        Ok(Err(trap)) => {
            crate::error!(
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
        Err(join) => {
            crate::error!(
                "{} {}: request task failed: {join}",
                request.method,
                request.path
            );
            let response = plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            (response, shared.core.version())
        }
    };
    finish(response, &version, gzip, &request, started)
}

/// Whether debug messages are logged: read once, so a request formats none when they are off.
static DEBUG: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("CARAVAN_DEBUG").is_some());

/// What every answer gets, whichever core decided it: the core's name, `Vary`, compression.
fn finish(
    mut response: Response<Body>,
    core_version: &str,
    gzip: bool,
    request: &types::Request,
    started: Instant,
) -> Response<Body> {
    add_core_header(&mut response, core_version);
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        response = compress(response);
    }
    if *DEBUG {
        crate::util::logging::log(
            crate::util::logging::Level::Debug,
            &format!(
                "{} {} -> {} in {:?}",
                request.method,
                request.path,
                response.status(),
                started.elapsed()
            ),
        );
    }
    response
}

async fn read_request(req: Request<Incoming>) -> Result<types::Request, Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, MAX_BODY).collect())
        .await
    {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
        Ok(Err(_)) => {
            return Err(plain(StatusCode::BAD_REQUEST, "malformed request body"));
        }
        Err(_) => {
            return Err(plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            ));
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

/// A client's heartbeat (servers only).
fn register_node(ctx: &HostContext, request: &types::Request) -> Response<Body> {
    if !ctx.cluster.roles.server {
        return plain(StatusCode::NOT_FOUND, "");
    }
    match serde_json::from_slice::<Registration>(&request.body) {
        Ok(registration) => {
            ctx.cluster.nodes.register(registration);
            full_response(StatusCode::OK)
        }
        Err(err) => plain(
            StatusCode::BAD_REQUEST,
            &format!("invalid registration: {err}"),
        ),
    }
}

/// `PUT`/`POST /v1/acl/bootstrap`: the first management token, in Nomad's `ACLToken` shape.
/// The host answers it because it mints a secret and writes it to disk.
fn acl_bootstrap(ctx: &HostContext, method: &str) -> Response<Body> {
    if method != "PUT" && method != "POST" {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
    }
    let acl = &ctx.acl;
    if !acl.enabled() {
        return plain(StatusCode::BAD_REQUEST, "ACL support disabled");
    }
    match acl.bootstrap() {
        Ok(Some(token)) => {
            let body = serde_json::json!({
                "AccessorID": token.accessor_id,
                "CreateIndex": 0,
                "CreateTime": token.create_time,
                "ExpirationTime": null,
                "Global": true,
                "ModifyIndex": 0,
                "Name": token.name,
                "Policies": null,
                "Roles": null,
                "SecretID": token.secret_id,
                "Type": token.token_type,
            });
            let mut response = Response::new(full(body.to_string().into_bytes()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Ok(None) => plain(StatusCode::BAD_REQUEST, "ACL bootstrap already done"),
        Err(err) => {
            crate::error!("ACL bootstrap failed: {err:#}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "ACL bootstrap failed")
        }
    }
}
