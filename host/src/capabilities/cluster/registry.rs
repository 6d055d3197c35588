//! Server mode: the registry of client nodes a server keeps, and the heartbeat that keeps a
//! client registered with its servers.
//!
//! Registration is soft state: a client sends its node (id, HTTP address, metadata) and its
//! allocations every [`HEARTBEAT`]; a node silent for [`TTL`] reads as down. Any number of
//! servers can run side by side, and a restarted server refills itself within a heartbeat.
//!
//! The client's side ([`Registration`]) is serialised here; the server's side is decoded,
//! validated and authorised by the core (`core/src/register.rs`), which hands the result to
//! `cluster.register`: this registry only records it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::allocs::AllocRecord;
use crate::capabilities::bindings::allocations::Allocation;

/// How often a client registers.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node silent this long is down.
pub const TTL: Duration = Duration::from_secs(5);
/// Marks a request a server forwarded, so it is never forwarded again (the contract in
/// `wit/handler.wit`, `action.forward`).
pub const FORWARDED_HEADER: &str = caravan_core::cluster::FORWARDED_HEADER;
/// The internal endpoint clients register at (routed by the core).
pub const REGISTER_PATH: &str = caravan_core::router::REGISTER_PATH;

/// A client node as it describes itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    #[serde(rename = "StaticMeta")]
    pub static_meta: BTreeMap<String, String>,
    #[serde(rename = "DynamicMeta")]
    pub dynamic_meta: BTreeMap<String, Option<String>>,
}

/// One heartbeat as a client sends it: the node and everything it runs. The core decodes
/// this shape (`core/src/register.rs`); change both together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    #[serde(rename = "Node")]
    pub node: NodeRecord,
    #[serde(rename = "Allocations")]
    pub allocations: Vec<AllocRecord>,
}

pub(super) struct Registered {
    pub(super) node: NodeRecord,
    pub(super) allocations: Vec<Allocation>,
    pub(super) certificate: Option<String>,
    /// When the node last heartbeat at this server itself.
    pub(super) heard: Option<Instant>,
    /// When it last heartbeat at any server (this one, or another through etcd).
    pub(super) seen_at: SystemTime,
    /// With the etcd registry: its registration is in etcd (its lease has not expired), as
    /// far as the watch has told. Always false with the in-memory registry.
    pub(super) shared: bool,
}

impl Registered {
    /// Live: it heartbeat here within [`TTL`], or its etcd lease is alive.
    fn live(&self) -> bool {
        self.shared || self.heard.is_some_and(|h| h.elapsed() < TTL)
    }
}

/// The nodes of a [`View`], with an index of who holds which allocation (a lookup by
/// allocation, each request's and each registration's conflict check, does not scan every
/// node). Allocations change only through [`Nodes::insert`], which keeps the index.
#[derive(Default)]
pub(super) struct Nodes {
    by_id: HashMap<String, Registered>,
    by_alloc: HashMap<String, BTreeSet<String>>,
}

impl std::ops::Deref for Nodes {
    type Target = HashMap<String, Registered>;
    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

impl Nodes {
    /// Add or replace node `id`.
    pub(super) fn insert(&mut self, id: String, registered: Registered) {
        if let Some(old) = self.by_id.get(&id) {
            for alloc in &old.allocations {
                if let Some(holders) = self.by_alloc.get_mut(&alloc.id) {
                    holders.remove(&id);
                    if holders.is_empty() {
                        self.by_alloc.remove(&alloc.id);
                    }
                }
            }
        }
        for alloc in &registered.allocations {
            self.by_alloc
                .entry(alloc.id.clone())
                .or_default()
                .insert(id.clone());
        }
        self.by_id.insert(id, registered);
    }

    /// Set whether each node's registration is in etcd.
    pub(super) fn set_shared(&mut self, id: &str, shared: bool) -> Option<&Registered> {
        let known = self.by_id.get_mut(id)?;
        known.shared = shared;
        Some(known)
    }

    pub(super) fn clear_shared(&mut self) {
        for known in self.by_id.values_mut() {
            known.shared = false;
        }
    }

    /// The nodes that registered allocation `id`.
    fn holders(&self, id: &str) -> impl Iterator<Item = (&String, &Registered)> {
        self.by_alloc
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|node| self.by_id.get_key_value(node))
    }
}

/// This server's view of the nodes: the whole registry when it lives in memory, the local
/// copy the etcd watch keeps in sync when it lives in etcd. Reads never wait for etcd.
#[derive(Default)]
pub(super) struct View {
    nodes: RwLock<Nodes>,
}

impl View {
    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Nodes> {
        self.nodes.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Nodes> {
        self.nodes.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a server knows about other nodes.
#[derive(Default)]
pub struct Cluster {
    view: Arc<View>,
    /// With `server { registry = "etcd" }`: where registrations are written, and the
    /// watch that brings every server's registrations into `view`.
    etcd: Option<super::etcd::Etcd>,
}

/// A node with its liveness.
#[derive(Debug, Clone)]
pub struct KnownNode {
    pub record: NodeRecord,
    pub ready: bool,
    pub last_seen: SystemTime,
    /// With mutual TLS, the SHA-256 (hex) of the certificate its last heartbeat came with:
    /// forwarding to the node requires it to present that certificate.
    pub certificate: Option<String>,
}

impl Cluster {
    /// A registry kept in etcd (`server { registry = "etcd" }`): starts the tasks that write
    /// registrations and watch everyone's, on the current tokio runtime.
    pub fn etcd(settings: super::etcd::EtcdSettings) -> anyhow::Result<Self> {
        let view = Arc::new(View::default());
        let etcd = super::etcd::Etcd::start(settings, view.clone())?;
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
    ) {
        let id = node.id.clone();
        let seen_at = SystemTime::now();
        if let Some(etcd) = &self.etcd {
            etcd.write(&id, &node, &allocations, certificate.as_deref(), seen_at);
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
mod tests {
    use super::*;
    use crate::capabilities::bindings::allocations::ClientStatus;

    fn node(id: &str) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            name: id.into(),
            datacenter: "dc1".into(),
            http_addr: format!("{id}:1"),
            static_meta: BTreeMap::new(),
            dynamic_meta: BTreeMap::new(),
        }
    }

    fn allocs(ids: &[&str]) -> Vec<Allocation> {
        ids.iter()
            .map(|id| Allocation {
                id: id.to_string(),
                namespace: "default".into(),
                job_id: "j".into(),
                task_group: "g".into(),
                client_status: ClientStatus::Running,
                tasks: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn the_allocation_index_follows_every_registration() {
        let cluster = Cluster::default();
        cluster.register(node("a"), allocs(&["x", "y"]), None);
        cluster.register(node("b"), allocs(&["z"]), None);
        assert_eq!(cluster.find_allocation("x").unwrap().0, "a");
        assert_eq!(cluster.find_allocation("z").unwrap().0, "b");
        // A node that stops listing an allocation no longer holds it; another may.
        cluster.register(node("a"), allocs(&["y"]), None);
        assert!(cluster.find_allocation("x").is_none());
        cluster.register(node("b"), allocs(&["z", "x"]), None);
        assert_eq!(cluster.find_allocation("x").unwrap().0, "b");
        assert_eq!(cluster.find_allocation("y").unwrap().0, "a");
        assert_eq!(cluster.allocations().len(), 3);
        assert!(cluster.find_allocation("nope").is_none());
    }
}
