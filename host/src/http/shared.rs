//! What every connection of one server shares.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio_util::sync::CancellationToken;

use super::limits::MinDataRate;
use super::pool::ConnectionPool;
use crate::http_client::TlsClient;
use crate::runtime::{Core, Runtime};

/// Transport limits.
#[derive(Clone)]
pub struct ServerOptions {
    /// Streamed responses (`fs/stream`, `fs/logs`) open at once; more are refused with 503.
    pub max_streams: usize,
    /// Connections one client address may hold open; 0 means no limit.
    pub max_conns_per_client: usize,
    /// The slowest a request body may arrive (`None`: only the body timeout holds).
    pub min_body_rate: Option<MinDataRate>,
    /// How a server speaks to its client nodes when it forwards: TLS between agents, or
    /// `None` for plain HTTP.
    pub forward_tls: Option<TlsClient>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_streams: 1024,
            // Nomad's default for `limits { http_max_conns_per_client }`.
            max_conns_per_client: 100,
            min_body_rate: Some(MinDataRate::DEFAULT),
            forward_tls: None,
        }
    }
}

/// What every connection shares.
pub(super) struct ServerState {
    /// Decides every API request.
    pub core: Arc<dyn Core>,
    /// The wasm runtime, for `/v1/agent/core` and the host context.
    pub runtime: Arc<Runtime>,
    pub options: ServerOptions,
    pub open_streams: AtomicUsize,
    /// Cancelled at shutdown: following streams never end by themselves.
    pub closing: CancellationToken,
    /// Held while the core decides a registration: its conflict check (is this allocation
    /// held by another live node?) and the registry's record of the winner must not
    /// interleave with another registration's, or two nodes could claim one allocation at
    /// once. Heartbeats are one per node per second; nothing else waits on this.
    pub registrations: tokio::sync::Mutex<()>,
    /// Server mode: connections to client nodes, kept for the next relayed read.
    pub connections: ConnectionPool,
}
