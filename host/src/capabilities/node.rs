//! `node`: this node's identity and metadata; dynamic metadata persists in the store.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::store::{MetaOp, StateStore};
use crate::wit::{node, types};

/// Who this node is.
pub struct NodeState {
    /// The node id, kept in the state store.
    pub id: String,
    /// The node's name.
    pub name: String,
    /// Its datacenter.
    pub datacenter: String,
    /// `client { meta }`.
    pub static_meta: BTreeMap<String, String>,
    /// Dynamic metadata (and the rest of the client's state).
    pub store: Arc<StateStore>,
    /// The address clients and servers reach this agent's HTTP API at (known once bound).
    pub http_addr: OnceLock<String>,
}

/// Nomad's built-in static node metadata, added unless configured.
pub fn default_static_meta() -> BTreeMap<String, String> {
    let envoy = "docker.io/envoyproxy/envoy:v${NOMAD_envoy_version}";
    [
        ("connect.sidecar_image", envoy),
        ("connect.gateway_image", envoy),
        ("connect.log_level", "info"),
        ("connect.proxy_concurrency", "1"),
        ("connect.transparent_proxy.default_uid", "101"),
        ("connect.transparent_proxy.default_outbound_port", "15001"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl node::Host for CoreState {
    fn node_id(&mut self) -> String {
        self.ctx.node.id.clone()
    }

    fn static_meta(&mut self) -> Vec<types::Pair> {
        self.ctx
            .node
            .static_meta
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    fn dynamic_meta(&mut self) -> Vec<node::MetaEntry> {
        match self.ctx.node.store.dynamic_meta() {
            Ok(meta) => entries(meta),
            Err(err) => {
                tracing::error!("failed to read dynamic metadata: {err:#}");
                Vec::new()
            }
        }
    }

    fn apply_meta(
        &mut self,
        changes: Vec<node::MetaChange>,
    ) -> Result<Vec<node::MetaEntry>, String> {
        let changes: Vec<(String, MetaOp)> = changes
            .into_iter()
            .map(|c| {
                let op = match c.op {
                    node::MetaOp::Set(value) => MetaOp::Set(value),
                    node::MetaOp::Tombstone => MetaOp::Tombstone,
                    node::MetaOp::Remove => MetaOp::Remove,
                };
                (c.key, op)
            })
            .collect();
        self.ctx
            .node
            .store
            .apply_meta(&changes)
            .map(entries)
            .map_err(|e| format!("{e:#}"))
    }
}

/// Dynamic metadata in the contract's terms (`None` is a tombstone).
pub fn entries(meta: BTreeMap<String, Option<String>>) -> Vec<node::MetaEntry> {
    meta.into_iter()
        .map(|(key, value)| node::MetaEntry { key, value })
        .collect()
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    node::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
