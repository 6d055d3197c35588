//! The accept loop: connections, header timeouts, graceful shutdown. What each request
//! means is decided in `dispatch` (by the core).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use caravan_core::cluster::register::{PEER_CERTIFICATE_HEADER, PEER_ROLE_HEADER};
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::dispatch::traced;
use super::limits::{Acceptor, PerClient, too_many_conns};
use super::pool::ConnectionPool;
pub use super::shared::ServerOptions;
use super::shared::ServerState;
use super::tls::{PeerIdentity, Tls};
use crate::runtime::{Core, Runtime};

/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After a shutdown signal, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serve on `listener` (over TLS if `tls` is given) until `shutdown` resolves, then let requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    core: Arc<dyn Core>,
    runtime: Arc<Runtime>,
    options: ServerOptions,
    tls: Option<Arc<Tls>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Start the metrics' clock now: JSON rates are per second since the agent began serving.
    crate::metrics::global();
    let shared = Arc::new(ServerState {
        core,
        runtime,
        options,
        open_streams: AtomicUsize::new(0),
        closing: CancellationToken::new(),
        registrations: tokio::sync::Mutex::new(()),
        connections: ConnectionPool::default(),
    });
    let per_client = PerClient::new(shared.options.max_conns_per_client);
    let mut acceptor = Acceptor::new(listener);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (mut stream, peer) = acceptor.accept() => {
                let Some(slot) = per_client.admit(peer.ip()) else {
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        match tls {
                            None => { let _ = stream.write_all(&too_many_conns()).await; }
                            Some(tls) => if let Ok(mut stream) = tls.handshake(stream).await {
                                let _ = stream.write_all(&too_many_conns()).await;
                                let _ = stream.shutdown().await;
                            },
                        }
                    });
                    continue;
                };
                let (shared, tls, watcher) = (shared.clone(), tls.clone(), graceful.watcher());
                // The handshake runs in the connection's own task, never in the accept loop.
                tokio::spawn(async move {
                    let _slot = slot;
                    match tls {
                        None => serve_connection(stream, shared, peer, None, watcher).await,
                        Some(tls) => match tls.handshake(stream).await {
                            Ok(stream) => {
                                let identity = tls.peer_identity(&stream);
                                serve_connection(stream, shared, peer, identity, watcher).await
                            }
                            Err(err) => tracing::debug!("TLS handshake with {peer}: {err:#}"),
                        },
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

/// Serve HTTP/1.1 on one connection, plain or TLS, until it closes or shutdown ends it.
/// `identity`, with mutual TLS, is who the peer's certificate says it is: every request
/// carries it in [`PEER_ROLE_HEADER`] and [`PEER_CERTIFICATE_HEADER`] for the core, and no
/// request can set those headers itself.
async fn serve_connection<S>(
    stream: S,
    shared: Arc<ServerState>,
    peer: std::net::SocketAddr,
    identity: Option<PeerIdentity>,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let value = |text: &str| HeaderValue::from_str(text).ok();
    let roles = identity.as_ref().and_then(|i| value(&i.roles));
    let certificate = identity
        .as_ref()
        .and_then(|i| i.certificate_sha256.as_deref().and_then(value));
    let closing = shared.closing.clone();
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let headers = req.headers_mut();
        headers.remove(PEER_ROLE_HEADER);
        headers.remove(PEER_CERTIFICATE_HEADER);
        if let Some(roles) = &roles {
            headers.insert(PEER_ROLE_HEADER, roles.clone());
        }
        if let Some(certificate) = &certificate {
            headers.insert(PEER_CERTIFICATE_HEADER, certificate.clone());
        }
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(traced(&shared, req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    // hyper-util's watcher takes no upgradeable connection, so the shutdown is relayed here:
    // `closing` is cancelled just before the graceful shutdown, which waits for every
    // watcher to be dropped (this one goes when the connection ends). An upgraded
    // connection (`alloc exec`) leaves this future at its upgrade.
    let _watching = watcher;
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = closing.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!("connection from {peer}: {err}");
    }
}
