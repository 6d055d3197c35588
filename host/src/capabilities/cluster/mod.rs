//! `cluster`: this agent's roles and, on a server, the nodes and allocations clients have
//! registered (`crate::registry`). A client agent answers for itself too.

use std::time::SystemTime;

use crate::registry::{Cluster, KnownNode, NodeRecord};
use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use super::allocations::allocation;
use super::node::{NodeState, entries};
use crate::wit::{cluster, types};

/// What this agent is, and whom it knows.
pub struct ClusterState {
    /// Server and/or client.
    pub roles: cluster::AgentRoles,
    /// Other nodes, when this agent is a server.
    pub nodes: Cluster,
    /// How a server speaks TLS to its nodes when it reads them itself (`relay`).
    pub relay_tls: Option<crate::http_client::TlsClient>,
}

impl NodeState {
    /// This node as it registers with servers.
    pub fn record(&self) -> NodeRecord {
        NodeRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            datacenter: self.datacenter.clone(),
            http_addr: self.http_addr.get().cloned().unwrap_or_default(),
            static_meta: self.static_meta.clone(),
            dynamic_meta: self.store.dynamic_meta().unwrap_or_default(),
        }
    }
}

impl cluster::Host for CoreState {
    fn roles(&mut self) -> cluster::AgentRoles {
        self.ctx.cluster.roles
    }

    fn node(&mut self, id: String) -> Option<cluster::NodeInfo> {
        if self.ctx.cluster.roles.client && id == self.ctx.node.id {
            return Some(self.local_node_info());
        }
        self.ctx.cluster.nodes.node(&id).map(node_info)
    }

    fn nodes(&mut self) -> Vec<cluster::NodeInfo> {
        let mut nodes: Vec<cluster::NodeInfo> = self
            .ctx
            .cluster
            .nodes
            .nodes()
            .into_iter()
            .filter(|n| n.record.id != self.ctx.node.id)
            .map(node_info)
            .collect();
        if self.ctx.cluster.roles.client {
            nodes.push(self.local_node_info());
        }
        nodes
    }

    fn find_allocation(&mut self, id: String) -> Option<cluster::PlacedAllocation> {
        if self.ctx.cluster.roles.client
            && let Some(record) = self.ctx.allocations.get(&id)
        {
            return Some(cluster::PlacedAllocation {
                node_id: self.ctx.node.id.clone(),
                allocation: allocation(record),
            });
        }
        self.ctx
            .cluster
            .nodes
            .find_allocation(&id)
            .map(|(node_id, allocation)| cluster::PlacedAllocation {
                node_id,
                allocation,
            })
    }

    fn all_allocations(&mut self) -> Vec<cluster::PlacedAllocation> {
        let local = &self.ctx.node.id;
        let mut placed: Vec<cluster::PlacedAllocation> = self
            .ctx
            .cluster
            .nodes
            .allocations()
            .into_iter()
            .filter(|(node_id, _)| node_id != local)
            .map(|(node_id, allocation)| cluster::PlacedAllocation {
                node_id,
                allocation,
            })
            .collect();
        if self.ctx.cluster.roles.client {
            placed.extend(self.ctx.allocations.list().into_iter().map(|record| {
                cluster::PlacedAllocation {
                    node_id: local.clone(),
                    allocation: allocation(record),
                }
            }));
        }
        placed
    }

    fn register(&mut self, registration: cluster::Registration) -> Result<(), String> {
        if !self.ctx.cluster.roles.server {
            return Err("this agent is not a server".into());
        }
        let node = registration.node;
        let record = NodeRecord {
            id: node.id,
            name: node.name,
            datacenter: node.datacenter,
            http_addr: node.http_addr,
            static_meta: node
                .static_meta
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
            dynamic_meta: node
                .dynamic_meta
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect(),
        };
        self.ctx.cluster.nodes.register(
            record,
            registration.allocations,
            registration.certificate_sha256,
            registration.secret_sha256,
        );
        Ok(())
    }
}

impl CoreState {
    fn local_node_info(&self) -> cluster::NodeInfo {
        node_info(KnownNode {
            record: self.ctx.node.record(),
            ready: true,
            last_seen: SystemTime::now(),
            certificate: None,
            secret_sha256: None,
        })
    }
}

fn node_info(node: KnownNode) -> cluster::NodeInfo {
    cluster::NodeInfo {
        id: node.record.id,
        name: node.record.name,
        datacenter: node.record.datacenter,
        http_addr: node.record.http_addr,
        status: if node.ready {
            cluster::NodeStatus::Ready
        } else {
            cluster::NodeStatus::Down
        },
        static_meta: node
            .record
            .static_meta
            .into_iter()
            .map(|(name, value)| types::Pair { name, value })
            .collect(),
        dynamic_meta: entries(node.record.dynamic_meta),
        last_seen: node.last_seen.into(),
        secret_sha256: node.secret_sha256,
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    cluster::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
