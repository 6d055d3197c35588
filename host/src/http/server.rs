//! The accept loop: connections, header timeouts, graceful shutdown. What each request
//! means is decided in `dispatch` (by the core).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::dispatch::traced;
use crate::runtime::{Core, Runtime};

/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After a shutdown signal, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Transport limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Streamed responses (`fs/stream`, `fs/logs`) open at once; more are refused with 503.
    pub max_streams: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { max_streams: 1024 }
    }
}

/// What every connection shares.
pub(super) struct Shared {
    /// Decides every API request.
    pub core: Arc<dyn Core>,
    /// The wasm runtime, for `/v1/agent/core` and the host context.
    pub runtime: Arc<Runtime>,
    pub options: ServerOptions,
    pub open_streams: AtomicUsize,
    /// Cancelled at shutdown: following streams never end by themselves.
    pub closing: CancellationToken,
}

/// Serve on `listener` until `shutdown` resolves, then let requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    core: Arc<dyn Core>,
    runtime: Arc<Runtime>,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        core,
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
                        tracing::warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = shared.clone();
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(traced(&shared, req, peer).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!("connection from {peer}: {err}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: ending streams, waiting for requests in flight");
    shared.closing.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing anyway");
    }
    Ok(())
}
