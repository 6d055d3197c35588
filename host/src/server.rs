//! The HTTP server: accept connections, hand each request to the core, carry out what it
//! decides. Transport concerns (body limits, header timeouts, file copying, pulling streamed
//! bodies, gzip, graceful shutdown) live here; API semantics do not.

use std::convert::Infallible;
use std::io::{SeekFrom, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue,
    UPGRADE, VARY,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceAny;

use crate::bindings::{handler, types};
use crate::native_core;
use crate::runtime::{CoreCall, MAX_CORE_SIZE, Runtime, Trigger};

/// Largest request body read (metadata applies are tiny); core swaps have their own limit.
const MAX_BODY: usize = 1 << 20;
/// The host's own route for the core (see [`agent_core`]).
const AGENT_CORE_PATH: &str = "/v1/agent/core";
/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk size for copying files.
const COPY_CHUNK: usize = 64 << 10;
/// After a shutdown signal, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

type Body = BoxBody<Bytes, std::io::Error>;

/// Transport limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Streamed responses (`fs/stream`, `fs/logs`) open at once; more are refused with 503.
    pub max_streams: usize,
    /// Answer with the natively linked core instead of the wasm one (`-core native`): the
    /// baseline that measures what the wasm boundary costs.
    pub native_core: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_streams: 1024,
            native_core: false,
        }
    }
}

/// What every connection shares.
struct Shared {
    runtime: Arc<Runtime>,
    options: ServerOptions,
    open_streams: AtomicUsize,
    /// Cancelled at shutdown: following streams never end by themselves.
    closing: CancellationToken,
}

/// Serve on `listener` until `shutdown` resolves, then let requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        runtime,
        options,
        open_streams: AtomicUsize::new(0),
        closing: CancellationToken::new(),
    });
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
                let shared = shared.clone();
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, req, peer).await) }
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
    crate::info!("shutting down: ending streams, waiting for requests in flight");
    shared.closing.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        crate::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing anyway");
    }
    Ok(())
}

/// One request: read it, let the core decide, carry the decision out.
async fn handle(shared: &Arc<Shared>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let runtime = &shared.runtime;
    if req.uri().path() == AGENT_CORE_PATH {
        return agent_core(runtime, req, peer).await;
    }
    let core = runtime.active();
    let gzip = wants_gzip(req.headers());
    let request = match read_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    if request.path == "/v1/acl/bootstrap" {
        return acl_bootstrap(runtime, &request.method);
    }
    if request.path == crate::cluster::REGISTER_PATH {
        return register_node(runtime, &request);
    }
    let started = Instant::now();
    if shared.options.native_core {
        let response = native(shared, request.clone()).await;
        return finish(response, &native_core::VERSION, gzip, &request, started);
    }
    let decided = {
        let runtime = runtime.clone();
        let core = core.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || runtime.handle(&core, &request)).await
    };
    let response = match decided {
        Ok(Ok((handler::Action::Respond(r), _))) => respond(r),
        Ok(Ok((handler::Action::SendFile(send), _))) => send_file(runtime, send).await,
        Ok(Ok((handler::Action::Stream(start), call))) => {
            let body = WasmBody {
                call,
                body: start.body,
            };
            stream(shared, start.status, &start.headers, body)
        }
        Ok(Ok((handler::Action::Forward(node), _))) => forward(runtime, &request, &node).await,
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
    finish(response, &core.version, gzip, &request, started)
}

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
        // Replacing the API's behaviour is for management tokens only, checked before the
        // body is read.
        Method::PUT | Method::POST => match management_token(runtime, req.headers()) {
            Ok(()) => swap_core(runtime, req.into_body(), peer).await,
            Err(refusal) => plain(StatusCode::FORBIDDEN, refusal),
        },
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
    *response.status_mut() = status(r.status);
    add_headers(&mut response, &r.headers);
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
            // The file changed between the core's checks and now (removed, replaced).
            return plain(StatusCode::NOT_FOUND, &format!("{}: {err}", send.path));
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

/// The native baseline (`-core native`): the same decisions, made without wasm.
async fn native(shared: &Arc<Shared>, request: types::Request) -> Response<Body> {
    let ctx = shared.runtime.context();
    let original = request.clone();
    match tokio::task::spawn_blocking(move || native_core::handle(ctx, &request)).await {
        Ok(native_core::Answer::Forward(node)) => forward(&shared.runtime, &original, &node).await,
        Ok(native_core::Answer::Respond(r)) => respond(r),
        Ok(native_core::Answer::SendFile(send)) => send_file(&shared.runtime, send).await,
        Ok(native_core::Answer::Stream {
            status,
            headers,
            body,
        }) => stream(shared, status, &headers, body),
        Err(join) => {
            crate::error!("the native core failed: {join}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// A streamed body the server pulls: the wasm core's `body-stream`, or the native baseline's.
trait Pull: Send + 'static {
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step>;
    fn waker(&self) -> Arc<tokio::sync::Notify>;
}

/// The wasm core's body: the resource and the instance (store) that owns it.
struct WasmBody {
    call: CoreCall,
    body: ResourceAny,
}

impl Pull for WasmBody {
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step> {
        self.call.next(self.body, now_ms)
    }

    fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.call.waker()
    }
}

impl Pull for Box<native_core::NativeBody> {
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step> {
        Ok(native_core::NativeBody::next(self, now_ms))
    }

    fn waker(&self) -> Arc<tokio::sync::Notify> {
        native_core::NativeBody::waker(self)
    }
}

/// Start pulling a streamed body from the core on its own task. The body ends when the
/// core says so, when the client goes away, or at shutdown.
fn stream(
    shared: &Arc<Shared>,
    code: u16,
    headers: &[types::Pair],
    body: impl Pull,
) -> Response<Body> {
    let Some(slot) = StreamSlot::take(shared) else {
        let message = format!(
            "too many concurrent streams (limit {})",
            shared.options.max_streams
        );
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, &message);
        response
            .headers_mut()
            .insert("Retry-After", HeaderValue::from_static("1"));
        return response;
    };
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    tokio::spawn(pump(body, tx, shared.closing.clone(), slot));
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(Frame::data(chunk)), rx))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
    *response.status_mut() = status(code);
    add_headers(&mut response, headers);
    response
}

async fn pump(
    mut body: impl Pull,
    tx: mpsc::Sender<Bytes>,
    closing: CancellationToken,
    _slot: StreamSlot,
) {
    let started = Instant::now();
    let waker = body.waker();
    loop {
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let pulled = tokio::task::spawn_blocking(move || {
            let step = body.next(now_ms);
            (body, step)
        })
        .await;
        let Ok((returned, step)) = pulled else { return };
        body = returned;
        match step {
            Ok(handler::Step::Data(data)) => {
                if tx.send(Bytes::from(data)).await.is_err() {
                    break;
                }
            }
            Ok(handler::Step::Wait(ms)) => {
                tokio::select! {
                    () = waker.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(u64::from(ms))) => {}
                    () = tx.closed() => break,
                    () = closing.cancelled() => break,
                }
            }
            Ok(handler::Step::End) => break,
            Err(trap) => {
                crate::error!("a stream's core failed: {trap:#}");
                break;
            }
        }
    }
    // Dropping the store (or the native host state) releases every subscription the stream
    // held.
    drop(body);
}

/// One of the bounded stream slots; freed on drop.
struct StreamSlot(Arc<Shared>);

impl StreamSlot {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.options.max_streams;
        shared
            .open_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(shared.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether the client accepts gzip: listed with a non-zero quality. (Nomad's gorilla
/// handler takes only the first of `gzip`/`deflate` and ignores qualities, so curl's
/// `deflate, gzip` gets nothing compressed from Nomad; here it gets gzip.) Upgrades are
/// never compressed.
fn wants_gzip(headers: &HeaderMap) -> bool {
    if headers.contains_key(UPGRADE) {
        return false;
    }
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// Compress a response body with gzip, flushing after every chunk so a followed stream
/// reaches the client as it is written. Empty bodies stay empty (`Content-Length: 0`):
/// the Go client's GC calls fail on any body.
fn compress(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if http_body::Body::size_hint(&body).exact() == Some(0) {
        return Response::from_parts(parts, body);
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let gzip = Gzip {
        inner: body,
        encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
    };
    Response::from_parts(parts, gzip.boxed())
}

struct Gzip {
    inner: Body,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl http_body::Body for Gzip {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    encoder.write_all(&data)?;
                    encoder.flush()?;
                    let out = std::mem::take(encoder.get_mut());
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    let tail = this
                        .encoder
                        .take()
                        .map(GzEncoder::finish)
                        .transpose()?
                        .unwrap_or_default();
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(tail)))));
                }
            }
        }
    }
}

/// With ACLs on, only a management token may act on the agent itself. The token is read
/// as Nomad reads it (`X-Nomad-Token`, else `Authorization: Bearer`).
fn management_token(runtime: &Arc<Runtime>, headers: &HeaderMap) -> Result<(), &'static str> {
    let acl = &runtime.context().acl;
    if !acl.enabled() {
        return Ok(());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secret = header("x-nomad-token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            let (scheme, rest) = header("authorization")?.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.split_whitespace().next())
                .flatten()
        });
    match secret.map(|s| acl.resolve(s)) {
        Some(Ok(token)) if token.token_type == crate::bindings::acl::TokenType::Management => {
            Ok(())
        }
        Some(Err(crate::bindings::acl::ResolveError::NotFound)) => Err("ACL token not found"),
        Some(Err(crate::bindings::acl::ResolveError::Expired)) => Err("ACL token expired"),
        _ => Err("Permission denied"),
    }
}

/// A client's heartbeat (servers only).
fn register_node(runtime: &Arc<Runtime>, request: &types::Request) -> Response<Body> {
    let ctx = runtime.context();
    if !ctx.roles.server {
        return plain(StatusCode::NOT_FOUND, "");
    }
    match serde_json::from_slice::<crate::cluster::Registration>(&request.body) {
        Ok(registration) => {
            ctx.cluster.register(registration);
            full_response(StatusCode::OK)
        }
        Err(err) => plain(
            StatusCode::BAD_REQUEST,
            &format!("invalid registration: {err}"),
        ),
    }
}

/// Relay a request to the client node that holds what it names, streaming the answer back
/// (frames included) with the connection's own backpressure. Dropping either side drops the
/// other. The node sees the caller's token and checks it again.
async fn forward(
    runtime: &Arc<Runtime>,
    request: &types::Request,
    node_id: &str,
) -> Response<Body> {
    let ctx = runtime.context();
    let Some(node) = ctx.cluster.node(node_id) else {
        return plain(StatusCode::NOT_FOUND, "No path to node");
    };
    let addr = node.record.http_addr;
    let no_path = |why: &dyn std::fmt::Display| {
        crate::warn!("forwarding to node {node_id} at {addr}: {why}");
        plain(StatusCode::NOT_FOUND, "No path to node")
    };
    let stream = match tokio::net::TcpStream::connect(&addr).await {
        Ok(stream) => stream,
        Err(err) => return no_path(&err),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => return no_path(&err),
        };
    tokio::spawn(connection);
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let mut outgoing = Request::builder()
        .method(request.method.as_str())
        .uri(target);
    for pair in &request.headers {
        // Hop-by-hop headers stay here; compression is this agent's business with its client.
        if !matches!(
            pair.name.as_str(),
            "host"
                | "connection"
                | "content-length"
                | "transfer-encoding"
                | "accept-encoding"
                | "keep-alive"
                | "upgrade"
        ) {
            outgoing = outgoing.header(pair.name.as_str(), pair.value.as_str());
        }
    }
    let outgoing = outgoing
        .header("host", addr.as_str())
        .header(crate::cluster::FORWARDED_HEADER, "1")
        .body(Full::new(Bytes::from(request.body.clone())));
    let outgoing = match outgoing {
        Ok(req) => req,
        Err(err) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot forward this request: {err}"),
            );
        }
    };
    match sender.send_request(outgoing).await {
        Ok(answer) => {
            let (mut parts, body) = answer.into_parts();
            parts.headers.remove(VARY);
            parts.headers.remove("x-caravan-core");
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
        }
        Err(err) => no_path(&err),
    }
}

fn full_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(Vec::new()));
    *response.status_mut() = status;
    response
}

/// `PUT`/`POST /v1/acl/bootstrap`: the first management token, in Nomad's `ACLToken` shape.
/// The host answers it because it mints a secret and writes it to disk.
fn acl_bootstrap(runtime: &Arc<Runtime>, method: &str) -> Response<Body> {
    if method != "PUT" && method != "POST" {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
    }
    let acl = &runtime.context().acl;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        wants_gzip(&headers)
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts("gzip"));
        assert!(accepts("gzip, deflate"));
        assert!(accepts("deflate, gzip, br, zstd"));
        assert!(accepts("GZIP;q=0.5"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts("br"));
    }
}
