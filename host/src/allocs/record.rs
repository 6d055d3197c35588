//! What the client knows about an allocation and its tasks, and the client status Nomad
//! derives from the tasks' states.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::spec::AllocSpec;

/// What a task's record keeps to find its executor again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorRef {
    pub pid: u32,
    /// With the pid, names the process for good.
    pub start_ticks: u64,
    pub protocol: u32,
}

/// A started task's leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub pid: u32,
    /// With the pid, identifies the process after a restart of the agent.
    pub start_ticks: u64,
}

/// An allocation's client status, as Nomad names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    /// Placed, no task started yet.
    Pending,
    /// At least one task runs.
    Running,
    /// Every task ended successfully.
    Complete,
    /// A task failed.
    Failed,
    /// Nomad's `lost`: the client cannot tell how it ended.
    Lost,
}

impl ClientStatus {
    /// Whether the allocation is over (and so collectable).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }

    /// Nomad's name for the status, as logged.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Lost => "lost",
        }
    }
}

/// A task's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Not started yet.
    Pending,
    /// Its process runs.
    Running,
    /// Ended, for good.
    Dead,
}

/// What the client knows about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's name in the spec.
    pub name: String,
    /// Where it is in its lifecycle.
    pub state: TaskStatus,
    /// It ended in failure (or was stopped as a failed task's sibling).
    pub failed: bool,
    /// When its current or last run started.
    pub started_at: Option<SystemTime>,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
    /// The last run's exit code, if it exited rather than being killed by a signal.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended the last run, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// The last run's leader pid and start time: after a crash of the agent, they find what
    /// is left of the run.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The leader's start time in clock ticks since boot: with `pid`, names the process.
    #[serde(default)]
    pub start_ticks: Option<u64>,
    /// The executor that runs it (where tasks outlive the agent): how a restarted agent
    /// re-attaches to the run.
    #[serde(default)]
    pub executor: Option<ExecutorRef>,
    /// How often it was restarted in place (`restart`), and when last.
    #[serde(default)]
    pub restarts: u32,
    /// When it was last restarted in place.
    #[serde(default)]
    pub last_restart: Option<SystemTime>,
}

impl TaskRecord {
    /// A task that has not started yet.
    pub(super) fn pending(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: TaskStatus::Pending,
            failed: false,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            pid: None,
            start_ticks: None,
            executor: None,
            restarts: 0,
            last_restart: None,
        }
    }
}

/// What the client knows about one allocation (persisted in the state store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocRecord {
    /// The spec it was placed from.
    pub spec: AllocSpec,
    /// Its overall status, from its tasks'.
    pub client_status: ClientStatus,
    /// Each task's record, in the spec's order.
    pub tasks: Vec<TaskRecord>,
}

impl AllocRecord {
    /// A freshly placed allocation: pending, every task pending.
    pub(super) fn pending(spec: &AllocSpec) -> Self {
        Self {
            spec: spec.clone(),
            client_status: ClientStatus::Pending,
            tasks: spec
                .tasks
                .iter()
                .map(|t| TaskRecord::pending(&t.name))
                .collect(),
        }
    }

    /// When the allocation became terminal: its last task's finish (the epoch if unknown).
    pub fn finished_at(&self) -> SystemTime {
        self.tasks
            .iter()
            .filter_map(|t| t.finished_at)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Nomad's client status of an allocation from its tasks' states (`getClientStatus`): one
/// failed task fails it; otherwise any running task makes it running, any pending task
/// pending, and only dead tasks complete.
pub(super) fn client_status(tasks: &[TaskRecord], stopping: bool) -> ClientStatus {
    let any = |f: fn(&TaskRecord) -> bool| tasks.iter().any(f);
    if any(|t| t.state == TaskStatus::Dead && t.failed) {
        ClientStatus::Failed
    } else if any(|t| t.state == TaskStatus::Running) {
        ClientStatus::Running
    } else if any(|t| t.state == TaskStatus::Pending) || (tasks.is_empty() && !stopping) {
        ClientStatus::Pending
    } else {
        ClientStatus::Complete
    }
}

/// Why [`super::Registry::restart`] or [`super::Registry::signal`] did not act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// No allocation has this id on this client.
    NotFound,
    /// The allocation has no task of this name.
    UnknownTask,
    /// The task (or some task, for all) is not running.
    NotRunning,
    /// The allocation is terminal or stopping.
    Terminal,
    /// Not a signal name this host knows.
    UnknownSignal,
    /// Acting failed.
    Failed(String),
}

/// Why [`super::Registry::collect`] did not collect an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// No allocation has this id on this client (collected meanwhile, say).
    NotFound,
    /// It is still pending or running.
    NotTerminal,
    /// Collecting it failed; the text names no host path beyond the allocation's own.
    Failed(String),
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("the allocation is not on this client"),
            Self::NotTerminal => f.write_str("the allocation is not terminal"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}
