//! `/v1/internal/node/register`: a client's heartbeat to a server, decoded, validated and
//! authorised here; the host only records the result (`cluster.register`).
//!
//! The body is what `caravan agent -servers=...` sends every second: `{"Node": {...},
//! "Allocations": [...]}` with the node in Nomad's field names and each allocation as the
//! client keeps its record (`spec`, `client_status`, `tasks`, times as
//! `{"secs_since_epoch", "nanos_since_epoch"}`). Nomad registers nodes over RPC and checks
//! the node's identity; caravan's HTTP registration asks for `node:write` when ACLs are on.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::acl::access::Access;
use crate::host::{
    Allocation, ClientStatus, DynamicMeta, Host, LogLevel, NodeRegistration, Registration,
    TaskState, TaskStatus, Timestamp,
};
use crate::http::{ApiError, ApiResult, Request, Response};

/// The header the host sets, on a server with mutual TLS, to the Nomad roles the caller's
/// verified certificate names (`client.global.nomad`, space-separated; empty for none). The
/// host removes it from every incoming request, so only the host can set it.
pub const PEER_ROLE_HEADER: &str = "x-caravan-peer-role";

/// The header the host sets beside [`PEER_ROLE_HEADER`]: the SHA-256 (hex) of the caller's
/// verified certificate. The registration carries it, so the server forwards only to a node
/// presenting that certificate. Set and stripped by the host like the role header.
pub const PEER_CERTIFICATE_HEADER: &str = "x-caravan-peer-certificate";

/// The role a node's certificate must name to register (Nomad's, region `global`).
pub const CLIENT_ROLE: &str = "client.global.nomad";

/// Decode, validate, authorise, then let the host record the heartbeat.
pub fn register(host: &impl Host, access: &Access, req: &Request) -> ApiResult<Response> {
    if !host.roles().server {
        // Only servers keep a registry: elsewhere the path does not exist.
        return Err(ApiError::not_found(""));
    }
    if req.method != "PUT" && req.method != "POST" {
        return Err(ApiError::invalid_method());
    }
    let mut registration = decode(&req.body)
        .map_err(|why| ApiError::bad_request(format!("invalid registration: {why}")))?;
    validate(&registration)?;
    require_client_certificate(req)?;
    access.node(host)?;
    if req.header(PEER_ROLE_HEADER).is_some() {
        registration.certificate_sha256 = req.header(PEER_CERTIFICATE_HEADER).map(str::to_string);
    }
    if let Err(why) = conflict(host, &registration) {
        host.log(
            LogLevel::Warn,
            &format!(
                "refused the registration of node {} from {}: {why}",
                registration.node.id, registration.node.http_addr
            ),
        );
        return Err(ApiError {
            status: 409,
            message: why,
        });
    }
    host.register(registration)
        .map_err(|e| ApiError::internal(format!("failed to register the node: {e}")))?;
    Ok(Response::empty())
}

/// Under mutual TLS, a client agent's calls to a server (its heartbeat, its token lookups)
/// must come with a certificate for [`CLIENT_ROLE`].
pub fn require_client_certificate(req: &Request) -> ApiResult<()> {
    match req.header(PEER_ROLE_HEADER) {
        Some(roles) if !roles.split_ascii_whitespace().any(|r| r == CLIENT_ROLE) => {
            Err(ApiError::forbidden(format!(
                "Permission denied: registration needs a client certificate for {CLIENT_ROLE}"
            )))
        }
        _ => Ok(()),
    }
}

/// A registration may not take over what another live node holds: a live node's id from
/// another address, or an allocation a live node has registered. A node that is down (or
/// gone) no longer holds anything, so a moved node or allocation registers again after
/// the TTL; a node that proves it is the same node, by the secret it registered with (as
/// Nomad re-admits a node by its `SecretID`), moves at once, a restart on a new port say.
fn conflict(host: &impl Host, registration: &Registration) -> Result<(), String> {
    let node = &registration.node;
    if let Some(known) = host.node(&node.id)
        && known.ready
        && known.http_addr != node.http_addr
        && !same_secret(
            known.secret_sha256.as_deref(),
            registration.secret_sha256.as_deref(),
        )
    {
        return Err(format!(
            "node {} is live at {}, not {}, and this registration does not prove it is the \
             same node (no SecretID, or another one)",
            node.id, known.http_addr, node.http_addr
        ));
    }
    for alloc in &registration.allocations {
        let Some(placed) = host.find_allocation(&alloc.id) else {
            continue;
        };
        if placed.node_id != node.id && host.node(&placed.node_id).is_some_and(|n| n.ready) {
            return Err(format!(
                "allocation {} is held by live node {}",
                alloc.id, placed.node_id
            ));
        }
    }
    Ok(())
}

/// Both sides hold a secret, the same one.
fn same_secret(known: Option<&str>, presented: Option<&str>) -> bool {
    matches!((known, presented), (Some(known), Some(presented)) if known == presented)
}

/// The SHA-256 (lowercase hex) a node's secret is kept and compared as: the secret itself
/// is never stored, logged or handed to the host.
fn secret_sha256(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Nomad's `Node.Register` argument checks, plus the address caravan forwards to.
fn validate(registration: &Registration) -> ApiResult<()> {
    let node = &registration.node;
    for (value, what) in [
        (&node.id, "node ID"),
        (&node.datacenter, "datacenter"),
        (&node.name, "node name"),
        (&node.http_addr, "HTTP address"),
    ] {
        if value.is_empty() {
            return Err(ApiError::bad_request(format!(
                "missing {what} for client registration"
            )));
        }
    }
    if registration.allocations.iter().any(|a| a.id.is_empty()) {
        return Err(ApiError::bad_request(
            "missing allocation ID for client registration",
        ));
    }
    Ok(())
}

/// The registration in the body, or what is wrong with it.
pub fn decode(body: &[u8]) -> Result<Registration, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let doc = object(&doc, "the body")?;
    let node = object(required(doc, "Node")?, "Node")?;
    let node = NodeRegistration {
        id: string(node, "ID")?,
        name: string(node, "Name")?,
        datacenter: string(node, "Datacenter")?,
        http_addr: string(node, "HTTPAddr")?,
        static_meta: static_meta(node.get("StaticMeta"))?,
        dynamic_meta: dynamic_meta(node.get("DynamicMeta"))?,
    };
    let allocations = match doc.get("Allocations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(allocation).collect::<Result<_, _>>()?,
        Some(_) => return Err("Allocations must be a list".into()),
    };
    // The node's secret (Nomad's `Node.SecretID`; caravan's heartbeat sends it beside the
    // node): an empty one proves nothing.
    let secret = string(doc, "SecretID")?;
    Ok(Registration {
        node,
        allocations,
        certificate_sha256: None,
        secret_sha256: (!secret.is_empty()).then(|| secret_sha256(&secret)),
    })
}

fn allocation(value: &Value) -> Result<Allocation, String> {
    let record = object(value, "an allocation")?;
    let spec = object(required(record, "spec")?, "spec")?;
    let optional = |key: &str, default: &str| match spec.get(key) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{key} must be a string")),
    };
    let tasks = match record.get("tasks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(task).collect::<Result<_, _>>()?,
        Some(_) => return Err("tasks must be a list".into()),
    };
    Ok(Allocation {
        id: string(spec, "ID")?,
        namespace: optional("Namespace", "default")?,
        job_id: optional("JobID", "")?,
        task_group: optional("TaskGroup", "")?,
        client_status: match string(record, "client_status")?.as_str() {
            "pending" => ClientStatus::Pending,
            "running" => ClientStatus::Running,
            "complete" => ClientStatus::Complete,
            "failed" => ClientStatus::Failed,
            "lost" => ClientStatus::Lost,
            other => return Err(format!("unknown client status {other:?}")),
        },
        tasks,
    })
}

fn task(value: &Value) -> Result<TaskState, String> {
    let task = object(value, "a task")?;
    Ok(TaskState {
        name: string(task, "name")?,
        state: match string(task, "state")?.as_str() {
            "pending" => TaskStatus::Pending,
            "running" => TaskStatus::Running,
            "dead" => TaskStatus::Dead,
            other => return Err(format!("unknown task state {other:?}")),
        },
        failed: task.get("failed").and_then(Value::as_bool).unwrap_or(false),
        started_at: time(task.get("started_at"))?,
        finished_at: time(task.get("finished_at"))?,
        restarts: task
            .get("restarts")
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        last_restart: time(task.get("last_restart"))?,
    })
}

/// A Rust `SystemTime` as serde writes it, or null.
fn time(value: Option<&Value>) -> Result<Option<Timestamp>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let time = object(value, "a time")?;
    let seconds = time.get("secs_since_epoch").and_then(Value::as_i64);
    let nanos = time.get("nanos_since_epoch").and_then(Value::as_u64);
    match (seconds, nanos) {
        (Some(seconds), Some(nanos)) if nanos < 1_000_000_000 => Ok(Some(Timestamp {
            seconds,
            nanoseconds: nanos as u32,
        })),
        _ => Err("a time must be {secs_since_epoch, nanos_since_epoch}".into()),
    }
}

fn static_meta(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    object(value, "StaticMeta")?
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("StaticMeta[{k:?}] must be a string")),
        })
        .collect()
}

fn dynamic_meta(value: Option<&Value>) -> Result<DynamicMeta, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(DynamicMeta::new());
    };
    object(value, "DynamicMeta")?
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), Some(s.clone()))),
            Value::Null => Ok((k.clone(), None)),
            _ => Err(format!("DynamicMeta[{k:?}] must be a string or null")),
        })
        .collect()
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))
}

/// A member the registration must have.
fn required<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    crate::wire::json::field(map, key).ok_or_else(|| format!("missing {key}"))
}

fn string(map: &Map<String, Value>, key: &str) -> Result<String, String> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

#[cfg(test)]
mod tests;
