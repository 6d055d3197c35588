//! A registration as the etcd registry (`etcd.rs`) stores it: the in-memory registry's
//! record, in JSON, with times as plain numbers.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::view::NodeRecord;
use crate::wit::allocations::{Allocation, ClientStatus, TaskState, TaskStatus};
use crate::wit::types::Timestamp;

/// A registration as etcd keeps it: what the in-memory registry keeps, in JSON.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Stored {
    pub(super) node: NodeRecord,
    pub(super) allocations: Vec<StoredAllocation>,
    /// The SHA-256 of the certificate the node registered with (mutual TLS).
    pub(super) certificate: Option<String>,
    /// The SHA-256 of the node's secret, its proof of identity (never the secret itself).
    #[serde(default)]
    pub(super) secret_sha256: Option<String>,
    /// When the heartbeat arrived, in milliseconds since the Unix epoch.
    pub(super) seen_ms: u64,
}

pub(super) fn encode(
    node: &NodeRecord,
    allocations: &[Allocation],
    certificate: Option<&str>,
    secret_sha256: Option<&str>,
    seen_at: SystemTime,
) -> Vec<u8> {
    let stored = Stored {
        node: node.clone(),
        allocations: allocations.iter().map(StoredAllocation::from).collect(),
        certificate: certificate.map(str::to_string),
        secret_sha256: secret_sha256.map(str::to_string),
        seen_ms: seen_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    serde_json::to_vec(&stored).unwrap_or_default()
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredAllocation {
    id: String,
    namespace: String,
    job_id: String,
    task_group: String,
    client_status: StoredClientStatus,
    tasks: Vec<StoredTask>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredClientStatus {
    Pending,
    Running,
    Complete,
    Failed,
    Lost,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredTaskStatus {
    Pending,
    Running,
    Dead,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTask {
    name: String,
    state: StoredTaskStatus,
    failed: bool,
    /// (seconds, nanoseconds) since the Unix epoch.
    started_at: Option<(i64, u32)>,
    finished_at: Option<(i64, u32)>,
    restarts: u32,
    last_restart: Option<(i64, u32)>,
}

fn to_pair(t: &Option<Timestamp>) -> Option<(i64, u32)> {
    t.as_ref().map(|t| (t.seconds, t.nanoseconds))
}

fn from_pair(t: Option<(i64, u32)>) -> Option<Timestamp> {
    t.map(|(seconds, nanoseconds)| Timestamp {
        seconds,
        nanoseconds,
    })
}

impl From<&Allocation> for StoredAllocation {
    fn from(a: &Allocation) -> Self {
        Self {
            id: a.id.clone(),
            namespace: a.namespace.clone(),
            job_id: a.job_id.clone(),
            task_group: a.task_group.clone(),
            client_status: match a.client_status {
                ClientStatus::Pending => StoredClientStatus::Pending,
                ClientStatus::Running => StoredClientStatus::Running,
                ClientStatus::Complete => StoredClientStatus::Complete,
                ClientStatus::Failed => StoredClientStatus::Failed,
                ClientStatus::Lost => StoredClientStatus::Lost,
            },
            tasks: a
                .tasks
                .iter()
                .map(|t| StoredTask {
                    name: t.name.clone(),
                    state: match t.state {
                        TaskStatus::Pending => StoredTaskStatus::Pending,
                        TaskStatus::Running => StoredTaskStatus::Running,
                        TaskStatus::Dead => StoredTaskStatus::Dead,
                    },
                    failed: t.failed,
                    started_at: to_pair(&t.started_at),
                    finished_at: to_pair(&t.finished_at),
                    restarts: t.restarts,
                    last_restart: to_pair(&t.last_restart),
                })
                .collect(),
        }
    }
}

impl From<StoredAllocation> for Allocation {
    fn from(a: StoredAllocation) -> Self {
        Self {
            id: a.id,
            namespace: a.namespace,
            job_id: a.job_id,
            task_group: a.task_group,
            client_status: match a.client_status {
                StoredClientStatus::Pending => ClientStatus::Pending,
                StoredClientStatus::Running => ClientStatus::Running,
                StoredClientStatus::Complete => ClientStatus::Complete,
                StoredClientStatus::Failed => ClientStatus::Failed,
                StoredClientStatus::Lost => ClientStatus::Lost,
            },
            tasks: a
                .tasks
                .into_iter()
                .map(|t| TaskState {
                    name: t.name,
                    state: match t.state {
                        StoredTaskStatus::Pending => TaskStatus::Pending,
                        StoredTaskStatus::Running => TaskStatus::Running,
                        StoredTaskStatus::Dead => TaskStatus::Dead,
                    },
                    failed: t.failed,
                    started_at: from_pair(t.started_at),
                    finished_at: from_pair(t.finished_at),
                    restarts: t.restarts,
                    last_restart: from_pair(t.last_restart),
                })
                .collect(),
        }
    }
}
