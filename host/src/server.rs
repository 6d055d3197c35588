//! The HTTP server: accept connections, hand each request to the core, carry out what it
//! decides. Transport concerns (body limits, header timeouts, file copying, graceful
//! shutdown) live here; API semantics do not.

use std::convert::Infallible;
use std::io::SeekFrom;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio_util::io::ReaderStream;

use crate::bindings::{handler, types};
use crate::runtime::{MAX_CORE_SIZE, Runtime, Trigger};

/// Largest request body read (metadata applies are tiny); core swaps have their own limit.
const MAX_BODY: usize = 1 << 20;
/// The host's own route for the core (see [`agent_core`]).
const AGENT_CORE_PATH: &str = "/v1/agent/core";
/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk size for copying files.
const COPY_CHUNK: usize = 64 << 10;

type Body = BoxBody<Bytes, std::io::Error>;

/// Serve on `listener` until `shutdown` resolves, then let requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        crate::warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let runtime = runtime.clone();
                let service = service_fn(move |req| {
                    let runtime = runtime.clone();
                    async move { Ok::<_, Infallible>(handle(&runtime, req, peer).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        crate::logging::log(crate::logging::Level::Debug, &format!("connection from {peer}: {err}"));
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    crate::info!("shutting down: waiting for requests in flight");
    graceful.shutdown().await;
    Ok(())
}

/// One request: read it, let the core decide, carry the decision out.
async fn handle(
    runtime: &Arc<Runtime>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    if req.uri().path() == AGENT_CORE_PATH {
        return agent_core(runtime, req, peer).await;
    }
    let core = runtime.active();
    let request = match read_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let started = std::time::Instant::now();
    let decided = {
        let runtime = runtime.clone();
        let core = core.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || runtime.handle(&core, &request)).await
    };
    let mut response = match decided {
        Ok(Ok(handler::Action::Respond(r))) => respond(r),
        Ok(Ok(handler::Action::SendFile(send))) => send_file(runtime, send).await,
        Ok(Err(trap)) => {
            crate::error!(
                "{} {} from {peer}: the core failed: {trap:#}",
                request.method,
                request.path
            );
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the core failed on this request",
            )
        }
        Err(join) => {
            crate::error!(
                "{} {}: request task failed: {join}",
                request.method,
                request.path
            );
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    };
    add_core_header(&mut response, &core.version);
    crate::logging::log(
        crate::logging::Level::Debug,
        &format!(
            "{} {} -> {} in {:?}",
            request.method,
            request.path,
            response.status(),
            started.elapsed()
        ),
    );
    response
}

/// The host's own endpoint, about the host rather than the API: `GET` reports the active
/// core and the swap history, `PUT` (or `POST`) swaps to the component in the body.
async fn agent_core(
    runtime: &Arc<Runtime>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let mut response = match *req.method() {
        Method::GET => core_status(runtime),
        // Authorization: ACLs do not exist yet (the agent refuses `acl.enabled`), so this
        // route is as open as every other. When they land, a swap requires a management
        // token, checked here, before the body is read.
        Method::PUT | Method::POST => swap_core(runtime, req.into_body(), peer).await,
        _ => plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method"),
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
            crate::error!("core swap from {peer} failed: {join}");
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

/// Every response names the core that served it (or, for the host's own routes, the core
/// serving now).
fn add_core_header(response: &mut Response<Body>, version: &str) {
    if let Ok(version) = HeaderValue::from_str(version) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-caravan-core"), version);
    }
}

async fn read_request(req: Request<Incoming>) -> Result<types::Request, Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return Err(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
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

fn respond(r: types::Response) -> Response<Body> {
    let mut response = Response::new(full(r.body));
    *response.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    add_headers(&mut response, &r.headers);
    response
}

fn add_headers(response: &mut Response<Body>, headers: &[types::Pair]) {
    for pair in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(pair.name.as_bytes()),
            HeaderValue::from_str(&pair.value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
}

/// Copy a file range without passing it through the core. The file is opened again here
/// with the same containment and secrets checks the core's probe went through.
async fn send_file(runtime: &Arc<Runtime>, send: handler::SendFile) -> Response<Body> {
    let ctx = runtime.context();
    let tasks = ctx.task_names(&send.alloc_id);
    let opened = {
        let ctx = ctx.clone();
        let (alloc_id, path) = (send.alloc_id.clone(), send.path.clone());
        tokio::task::spawn_blocking(move || ctx.fs.open_file(&alloc_id, &path, &tasks)).await
    };
    let file = match opened {
        Ok(Ok(file)) => file,
        Ok(Err(err)) => {
            return plain(
                StatusCode::NOT_FOUND,
                &format!("failed to open {}: {err:?}", send.path),
            );
        }
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let available = size.saturating_sub(send.offset);
    let length = send.limit.map_or(available, |limit| limit.min(available));
    let mut file = tokio::fs::File::from_std(file);
    if let Err(err) = file.seek(SeekFrom::Start(send.offset)).await {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to seek: {err}"),
        );
    }
    let stream = ReaderStream::with_capacity(file.take(length), COPY_CHUNK).map_ok(Frame::data);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    add_headers(&mut response, &send.headers);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// A plain-text answer made by the host itself (transport faults only).
fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(full(message.as_bytes().to_vec()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never: Infallible| match never {})
        .boxed()
}
