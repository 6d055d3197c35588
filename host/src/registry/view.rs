//! What a server knows of each node, shared by the in-memory registry (`registry.rs`) and its
//! etcd backing (`etcd.rs`): the records, the heartbeat timing, and the view reads go to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::allocs::AllocRecord;
use crate::wit::allocations::Allocation;

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
    /// The node id (a UUID).
    #[serde(rename = "ID")]
    pub id: String,
    /// The node's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Its datacenter.
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    /// Where its HTTP API listens (`host:port`).
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    /// `client { meta }`.
    #[serde(rename = "StaticMeta")]
    pub static_meta: BTreeMap<String, String>,
    /// Metadata set through the API; `None` is a tombstone.
    #[serde(rename = "DynamicMeta")]
    pub dynamic_meta: BTreeMap<String, Option<String>>,
}

/// One heartbeat as a client sends it: the node and everything it runs. The core decodes
/// this shape (`core/src/cluster/register.rs`); change both together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The node.
    #[serde(rename = "Node")]
    pub node: NodeRecord,
    /// Every allocation it runs.
    #[serde(rename = "Allocations")]
    pub allocations: Vec<AllocRecord>,
    /// The node's secret (Nomad's `SecretID`), which proves to a server that a heartbeat
    /// from a new address comes from this same node (`core/src/cluster/register.rs`).
    #[serde(rename = "SecretID", default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub(super) struct Registered {
    pub(super) node: NodeRecord,
    pub(super) allocations: Vec<Allocation>,
    pub(super) certificate: Option<String>,
    /// The SHA-256 of the secret it registered with (the core compares them).
    pub(super) secret_sha256: Option<String>,
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
    pub(super) fn live(&self) -> bool {
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

    /// Forget that the nodes this server hears itself are in etcd (see `etcd.rs`,
    /// `out_of_sync`): their own heartbeats decide whether they are live.
    pub(super) fn unshare_heard(&mut self) {
        for known in self.by_id.values_mut().filter(|k| k.heard.is_some()) {
            known.shared = false;
        }
    }

    pub(super) fn clear_shared(&mut self) {
        for known in self.by_id.values_mut() {
            known.shared = false;
        }
    }

    /// The nodes that registered allocation `id`.
    pub(super) fn holders(&self, id: &str) -> impl Iterator<Item = (&String, &Registered)> {
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
