//! Server mode: the registry of client nodes a server keeps, and the heartbeat that keeps a
//! client registered with its servers.
//!
//! Registration is soft state: a client sends its node (id, HTTP address, metadata) and its
//! allocations every [`HEARTBEAT`]; a node silent for [`TTL`] reads as down. Any number of
//! servers can run side by side, and a restarted server refills itself within a heartbeat.
//!
//! The client's side ([`Registration`]) is serialised here; the server's side is decoded,
//! validated and authorised by the core (`core/src/cluster/register.rs`), which hands the result to
//! `cluster.register`: this registry only records it.

mod etcd;
mod etcd_stored;
mod view;

pub use etcd::{EtcdSettings, connection as etcd_connection};
pub use view::{FORWARDED_HEADER, HEARTBEAT, NodeRecord, REGISTER_PATH, Registration, TTL};

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::wit::allocations::Allocation;
use view::{Registered, View};

/// What a server knows about other nodes.
#[derive(Default)]
pub struct Cluster {
    view: Arc<View>,
    /// With `server { registry = "etcd" }`: where registrations are written, and the
    /// watch that brings every server's registrations into `view`.
    etcd: Option<etcd::Etcd>,
}

/// A node with its liveness.
#[derive(Debug, Clone)]
pub struct KnownNode {
    /// The node as its last heartbeat described it.
    pub record: NodeRecord,
    /// It heartbeats in time.
    pub ready: bool,
    /// Its last heartbeat.
    pub last_seen: SystemTime,
    /// With mutual TLS, the SHA-256 (hex) of the certificate its last heartbeat came with:
    /// forwarding to the node requires it to present that certificate.
    pub certificate: Option<String>,
    /// The SHA-256 (hex) of the secret its last heartbeat came with.
    pub secret_sha256: Option<String>,
}

impl Cluster {
    /// A registry kept in etcd (`server { registry = "etcd" }`): starts the tasks that write
    /// registrations and watch everyone's, on the current tokio runtime.
    pub fn etcd(settings: etcd::EtcdSettings) -> anyhow::Result<Self> {
        let view = Arc::new(View::default());
        let etcd = etcd::Etcd::start(settings, view.clone())?;
        Ok(Self {
            view,
            etcd: Some(etcd),
        })
    }

    /// Record a heartbeat the core accepted.
    pub fn register(
        &self,
        node: NodeRecord,
        allocations: Vec<Allocation>,
        certificate: Option<String>,
        secret_sha256: Option<String>,
    ) {
        let id = node.id.clone();
        let seen_at = SystemTime::now();
        if let Some(etcd) = &self.etcd {
            etcd.write(
                &id,
                &node,
                &allocations,
                certificate.as_deref(),
                secret_sha256.as_deref(),
                seen_at,
            );
        }
        let mut nodes = self.view.write();
        let shared = match nodes.get(&id) {
            None => {
                tracing::info!("node {id} registered from {}", node.http_addr);
                false
            }
            Some(known) => known.shared,
        };
        nodes.insert(
            id,
            Registered {
                node,
                allocations,
                certificate,
                secret_sha256,
                heard: Some(Instant::now()),
                seen_at,
                shared,
            },
        );
    }

    /// With the etcd registry, whether it is reachable and in sync, and what is wrong if
    /// not; `None` for the in-memory registry.
    pub fn health(&self) -> Option<(bool, String)> {
        self.etcd.as_ref().map(|etcd| etcd.health())
    }

    fn known(r: &Registered) -> KnownNode {
        KnownNode {
            record: r.node.clone(),
            ready: r.live(),
            last_seen: r.seen_at,
            certificate: r.certificate.clone(),
            secret_sha256: r.secret_sha256.clone(),
        }
    }

    /// A registered node.
    pub fn node(&self, id: &str) -> Option<KnownNode> {
        self.view.read().get(id).map(Self::known)
    }

    /// Every registered node.
    pub fn nodes(&self) -> Vec<KnownNode> {
        self.view.read().values().map(Self::known).collect()
    }

    /// The node holding allocation `id`, and the allocation: a live node's claim wins over
    /// one of a node that is down.
    pub fn find_allocation(&self, id: &str) -> Option<(String, Allocation)> {
        let nodes = self.view.read();
        nodes
            .holders(id)
            .filter_map(|(node_id, r)| {
                let alloc = r.allocations.iter().find(|a| a.id == id)?;
                Some((r.live(), node_id, alloc))
            })
            .max_by_key(|(live, _, _)| *live)
            .map(|(_, node_id, alloc)| (node_id.clone(), alloc.clone()))
    }

    /// Every allocation of every registered node, with the node's id.
    pub fn allocations(&self) -> Vec<(String, Allocation)> {
        let nodes = self.view.read();
        nodes
            .iter()
            .flat_map(|(id, r)| r.allocations.iter().map(move |a| (id.clone(), a.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests;
