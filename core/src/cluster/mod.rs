//! Which agent answers a request — this one, or the client node a server forwards it to —
//! and the server's views of nodes and allocations (`/v1/nodes`, `/v1/allocations`, ...).
//!
//! A server checks ACLs before forwarding and the client checks them again: no identity
//! is borrowed from the client (CVE-2023-1782). A forwarded request carries a header and
//! is never forwarded again (Nomad's metadata forwarding loop, #16517).

pub mod register;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::acl::access::Access;
use crate::host::{Allocation, Host, NodeInfo, PlacedAllocation, TaskStatus, Timestamp};
use crate::http::{ApiError, ApiResult, ForwardTo, Request};
use crate::wire::params::{Query, go_quote};

/// Marks a request a server already forwarded.
pub const FORWARDED_HEADER: &str = "x-caravan-forwarded";

/// Whether a server already forwarded this request (it is answered where it arrives).
pub fn forwarded(req: &Request) -> bool {
    req.header(FORWARDED_HEADER).is_some()
}

/// Which agent answers: a server forwards what it knows to be elsewhere to that client node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locate<'a> {
    /// Always this agent.
    Here,
    /// The node that holds this allocation.
    Allocation(&'a str),
    /// The node named by `?node_id=` (this agent's own client when empty).
    Node,
    /// For a GET, as [`Locate::Node`]; for a POST, `?node_id=` or else the body's `NodeID`
    /// (metadata applies); any other method here.
    NodeOrBody,
}

/// Where a request goes: another node when this server knows the allocation or node_id is
/// elsewhere (`Some`), else here.
pub fn forward_target(
    host: &impl Host,
    req: &Request,
    query: &Query,
    locate: Locate,
    access: &Access,
) -> ApiResult<Option<String>> {
    let node_id = || query.get("node_id").unwrap_or("").to_string();
    match locate {
        Locate::Here => Ok(None),
        Locate::Allocation(id) => locate_allocation(host, access, id),
        Locate::Node => locate_node(host, access, &node_id()),
        Locate::NodeOrBody => match req.method.as_str() {
            "GET" => locate_node(host, access, &node_id()),
            "POST" => {
                let apply = crate::node::meta::decode_apply(&req.body)?;
                let id = Some(node_id())
                    .filter(|id| !id.is_empty())
                    .unwrap_or(apply.node_id);
                locate_node(host, access, &id)
            }
            _ => Ok(None),
        },
    }
}

/// For alloc-scoped routes: the node to forward to, or `None` to answer here.
pub fn locate_allocation(host: &impl Host, access: &Access, id: &str) -> ApiResult<Option<String>> {
    let roles = host.roles();
    if roles.client && host.allocation(id).is_some() {
        return Ok(None);
    }
    if !roles.server || forwarded(access.request) {
        return Ok(None);
    }
    let Some(placed) = host.find_allocation(id) else {
        return Ok(None);
    };
    if roles.client && placed.node_id == host.node_id() {
        return Ok(None);
    }
    access.namespace(host, &placed.allocation.namespace)?;
    reachable(host, &placed.node_id)?;
    Ok(Some(placed.node_id))
}

/// For node-scoped routes (`stats`, `gc`, `metadata`): the node to forward to, or `None`
/// to answer here. An empty `node_id` means this agent's own client.
pub fn locate_node(host: &impl Host, access: &Access, node_id: &str) -> ApiResult<Option<String>> {
    let roles = host.roles();
    if node_id.is_empty() {
        return if roles.client {
            Ok(None)
        } else {
            Err(ApiError::bad_request(
                "No local Node and node_id not provided",
            ))
        };
    }
    if roles.client && node_id == host.node_id() {
        return Ok(None);
    }
    if !roles.server || forwarded(access.request) {
        return Err(unknown_node(node_id));
    }
    reachable(host, node_id)?;
    access.node(host)?;
    Ok(Some(node_id.to_string()))
}

fn reachable(host: &impl Host, node_id: &str) -> ApiResult<()> {
    match host.node(node_id) {
        None => Err(unknown_node(node_id)),
        Some(node) if !node.ready => Err(no_path()),
        Some(_) => Ok(()),
    }
}

/// Nomad's answer when a server cannot reach the node that holds what a request names.
fn no_path() -> ApiError {
    ApiError::not_found("No path to node")
}

/// Relay to `node_id`; if the host cannot reach it after all (it went away, the connection
/// failed), Nomad's `No path to node`.
pub fn forward_to(node_id: String) -> ForwardTo {
    ForwardTo {
        node_id,
        unreachable: no_path().into_response(),
    }
}

fn unknown_node(node_id: &str) -> ApiError {
    ApiError::not_found(format!("Unknown node {}", go_quote(node_id)))
}

fn status(node: &NodeInfo) -> &'static str {
    if node.ready { "ready" } else { "down" }
}

fn address(node: &NodeInfo) -> &str {
    node.http_addr
        .rsplit_once(':')
        .map_or(node.http_addr.as_str(), |(host, _)| host)
}

/// `GET /v1/nodes`: Nomad's `NodeListStub` for each node, sorted by id.
pub fn nodes_body(host: &impl Host) -> Value {
    let mut nodes = host.nodes();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    Value::Array(
        nodes
            .iter()
            .map(|n| {
                json!({
                    "Address": address(n),
                    "CreateIndex": 0,
                    "Datacenter": n.datacenter,
                    "Drain": false,
                    "HTTPAddr": n.http_addr,
                    "ID": n.id,
                    "ModifyIndex": 0,
                    "Name": n.name,
                    "NodeClass": "",
                    "NodePool": "default",
                    "SchedulingEligibility": "eligible",
                    "Status": status(n),
                    "StatusDescription": "",
                    "Version": env!("CARGO_PKG_VERSION"),
                })
            })
            .collect(),
    )
}

/// `GET /v1/node/:id`: the fields of Nomad's `Node` caravan knows.
pub fn node_body(host: &impl Host, id: &str) -> ApiResult<Value> {
    let node = host
        .node(id)
        .ok_or_else(|| ApiError::not_found("node not found"))?;
    Ok(json!({
        "Attributes": { "nomad.version": env!("CARGO_PKG_VERSION"), "unique.hostname": node.name },
        "CreateIndex": 0,
        "Datacenter": node.datacenter,
        "Drain": false,
        // Every caravan node runs its tasks one way: as host processes, as Nomad's raw_exec.
        "Drivers": { "raw_exec": {
            "Attributes": { "driver.raw_exec": "1" },
            "Detected": true,
            "HealthDescription": "Healthy",
            "Healthy": true,
        } },
        "HTTPAddr": node.http_addr,
        "ID": node.id,
        "Meta": crate::node::meta::merged(&node.static_meta, &node.dynamic_meta),
        "ModifyIndex": 0,
        "Name": node.name,
        "NodeClass": "",
        "NodePool": "default",
        "SchedulingEligibility": "eligible",
        "Status": status(&node),
        "StatusDescription": "",
        "StatusUpdatedAt": node.last_seen.seconds,
        "TLSEnabled": false,
    }))
}

/// `GET /v1/allocations`: allocations of `namespace` (default `default`, `*` for all) the
/// caller may read, as Nomad's `AllocListStub`.
pub fn allocations_body(host: &impl Host, access: &Access, namespace: &str) -> Value {
    let mut placed = host.all_allocations();
    placed.sort_by(|a, b| a.allocation.id.cmp(&b.allocation.id));
    let nodes = node_facts(host);
    Value::Array(
        placed
            .iter()
            .filter(|p| namespace == "*" || p.allocation.namespace == namespace)
            .filter(|p| access.namespace(host, &p.allocation.namespace).is_ok())
            .map(|p| allocation_json(p, &nodes))
            .collect(),
    )
}

/// `GET /v1/allocation/:id`.
pub fn allocation_body(host: &impl Host, access: &Access, id: &str) -> ApiResult<Value> {
    let placed = host
        .find_allocation(id)
        .ok_or_else(|| ApiError::not_found("alloc not found"))?;
    access.namespace(host, &placed.allocation.namespace)?;
    Ok(allocation_json(&placed, &node_facts(host)))
}

/// What an allocation's view needs of its node: the node's name, and whether it is down.
fn node_facts(host: &impl Host) -> BTreeMap<String, (String, bool)> {
    host.nodes()
        .into_iter()
        .map(|n| (n.id, (n.name, !n.ready)))
        .collect()
}

/// The status a client reports, except on a node that is down: there Nomad marks what has
/// not finished `lost` (and to be stopped), as its tasks may have died with it, unseen.
fn client_status(a: &Allocation, node_down: bool) -> &'static str {
    match a.client_status {
        _ if node_down && !a.client_status.is_terminal() => "lost",
        crate::host::ClientStatus::Pending => "pending",
        crate::host::ClientStatus::Running => "running",
        crate::host::ClientStatus::Complete => "complete",
        crate::host::ClientStatus::Failed => "failed",
        crate::host::ClientStatus::Lost => "lost",
    }
}

fn allocation_json(placed: &PlacedAllocation, nodes: &BTreeMap<String, (String, bool)>) -> Value {
    let a: &Allocation = &placed.allocation;
    let (node_name, node_down) = nodes
        .get(&placed.node_id)
        .map_or(("", false), |(name, down)| (name.as_str(), *down));
    let client_status = client_status(a, node_down);
    let tasks: Map<String, Value> = a
        .tasks
        .iter()
        .map(|t| {
            let state = match t.state {
                TaskStatus::Pending => "pending",
                TaskStatus::Running => "running",
                TaskStatus::Dead => "dead",
            };
            let value = json!({
                "Events": [],
                "Failed": t.failed,
                "FinishedAt": t.finished_at.map(Timestamp::rfc3339_nano),
                "LastRestart": t.last_restart.map(Timestamp::rfc3339_nano),
                "Restarts": t.restarts,
                "StartedAt": t.started_at.map(Timestamp::rfc3339_nano),
                "State": state,
            });
            (t.name.clone(), value)
        })
        .collect();
    let running = matches!(client_status, "pending" | "running");
    json!({
        "ClientStatus": client_status,
        "CreateIndex": 0,
        "DesiredStatus": if running { "run" } else { "stop" },
        "ID": a.id,
        "JobID": a.job_id,
        "ModifyIndex": 0,
        "Name": format!("{}.{}[0]", a.job_id, a.task_group),
        "Namespace": a.namespace,
        "NodeID": placed.node_id,
        "NodeName": node_name,
        "TaskGroup": a.task_group,
        "TaskStates": tasks,
    })
}
