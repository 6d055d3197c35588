//! The host's half of the WIT contract: one folder or file per imported interface, each
//! owning its state, its `Host` implementation and its `add_to_linker`. Only conversions
//! and calls live in the `Host` implementations; the logic is in the modules beside them
//! (`filesystem::alloc_fs`, `stats::sampler`, `acl::store`) and below them
//! (`crate::registry`, `crate::allocs`, `crate::store`, `crate::util::follow`). The
//! contract's types come from `crate::wit`.

pub mod acl;
pub mod allocations;
pub mod cluster;
pub mod filesystem;
pub mod follow;
pub mod log;
pub mod node;
pub mod relay;
pub mod stats;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Notify;
use wasmtime::StoreLimits;
use wasmtime::component::{Linker, ResourceTable};

use crate::allocs::Registry;
use crate::store::StateStore;

/// Every capability's state, shared by all requests: what a store's imports reach.
pub struct HostContext {
    /// Who this node is, and its metadata.
    pub node: node::NodeState,
    /// The allocations this client runs.
    pub allocations: Arc<Registry>,
    /// The allocation directories, reached with containment.
    pub filesystem: filesystem::AllocFs,
    /// The host-wide usage sampler.
    pub stats: stats::HostStats,
    /// The one watcher of followed files.
    pub follow: Arc<follow::Follower>,
    /// Tokens and policies.
    pub acl: acl::AclStore,
    /// Server mode's view of the cluster.
    pub cluster: cluster::ClusterState,
}

impl HostContext {
    /// One heartbeat's worth of this client.
    pub fn registration(&self) -> crate::registry::Registration {
        crate::registry::Registration {
            node: self.node.record(),
            allocations: self.allocations.list(),
            // Without its secret a moved node waits out its old registration (logged once).
            secret: self.node.store.node_secret().ok(),
        }
    }

    /// A host context over an empty data dir, so the self-check's requests (which only read)
    /// have something to read without touching a real agent's state.
    pub fn scratch(dir: &Path) -> anyhow::Result<Arc<Self>> {
        let alloc_root = dir.join("alloc");
        std::fs::create_dir_all(&alloc_root)?;
        let state = Arc::new(StateStore::open(&dir.join("client"))?);
        // Nothing reads stats during a check; sample rarely.
        let rarely = Duration::from_secs(3600);
        let registry = Arc::new(Registry::open(
            &alloc_root,
            &dir.join("specs"),
            state.clone(),
            rarely,
        )?);
        Ok(Arc::new(Self {
            node: node::NodeState {
                id: state.node_id()?,
                name: "check".into(),
                datacenter: "dc1".into(),
                static_meta: node::default_static_meta(),
                store: state.clone(),
                http_addr: std::sync::OnceLock::new(),
            },
            allocations: registry,
            filesystem: filesystem::AllocFs::new(&alloc_root)
                .context("failed to open the alloc dir")?,
            stats: stats::HostStats::start(alloc_root, rarely),
            follow: follow::Follower::new()?,
            acl: acl::AclStore::open(
                &dir.join("acl"),
                false,
                acl::backend::ApiAcl::local(state.clone()),
            )?,
            cluster: cluster::ClusterState {
                roles: crate::wit::cluster::AgentRoles {
                    server: false,
                    client: true,
                    ui: true,
                },
                nodes: crate::registry::Cluster::default(),
                relay_tls: None,
            },
        }))
    }
}

/// The data of one store: one request's (or one stream's) instance of the core.
pub struct CoreState {
    /// The capabilities' shared state.
    pub ctx: Arc<HostContext>,
    /// The store's memory and table limits.
    pub limits: StoreLimits,
    /// Resources the core holds (its follow subscriptions).
    pub table: ResourceTable,
    /// Woken when a path this store's stream follows changes, or a relay brings data.
    pub waker: Arc<Notify>,
    /// The reads of other nodes its stream holds (a server's job logs).
    pub relays: relay::Relays,
}

impl CoreState {
    /// A store's data for one request or stream.
    pub fn new(ctx: Arc<HostContext>, limits: StoreLimits) -> Self {
        Self {
            ctx,
            limits,
            table: ResourceTable::new(),
            waker: Arc::new(Notify::new()),
            relays: relay::Relays::default(),
        }
    }
}

/// Link every interface the core imports.
pub fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    log::add_to_linker(linker)
        .and_then(|()| node::add_to_linker(linker))
        .and_then(|()| allocations::add_to_linker(linker))
        .and_then(|()| filesystem::add_to_linker(linker))
        .and_then(|()| follow::add_to_linker(linker))
        .and_then(|()| stats::add_to_linker(linker))
        .and_then(|()| acl::add_to_linker(linker))
        .and_then(|()| cluster::add_to_linker(linker))
        .and_then(|()| relay::add_to_linker(linker))
        .map_err(|err| err.context("failed to link the host interfaces"))
}
