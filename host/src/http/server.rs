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
use super::limits::{Acceptor, PerClient, too_many_conns};
pub use super::shared::ServerOptions;
use super::shared::Shared;
use crate::runtime::{Core, Runtime};

/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After a shutdown signal, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
    let per_client = PerClient::new(shared.options.max_conns_per_client);
    let mut acceptor = Acceptor::new(listener);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (mut stream, peer) = acceptor.accept() => {
                let Some(slot) = per_client.admit(peer.ip()) else {
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        let _ = stream.write_all(&too_many_conns()).await;
                    });
                    continue;
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
                    let _slot = slot;
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
