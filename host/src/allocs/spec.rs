//! The allocation spec an operator writes: Nomad's field names, its defaults, the forms its
//! JSON accepts, and the checks a spec file passes before anything is placed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};

/// Nomad's default `kill_timeout`.
pub(super) const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Nomad's default client `max_kill_timeout`, which caps any task's kill timeout.
pub(super) const MAX_KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// An allocation spec as written by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocSpec {
    /// The allocation id (a UUID), unique on this client.
    #[serde(rename = "ID")]
    pub id: String,
    /// The job's namespace (default `default`), which ACL checks read.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The job it belongs to.
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    /// The task group it runs.
    #[serde(default)]
    pub task_group: String,
    /// Its tasks, started together.
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

/// One task of a spec, run raw_exec-style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSpec {
    /// The task's name, unique in the allocation.
    pub name: String,
    /// The program to run.
    #[serde(default)]
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables, set over the agent's and Nomad's `NOMAD_*`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How its output is logged.
    #[serde(default, deserialize_with = "null_as_default")]
    pub log_config: LogConfig,
    /// Nanoseconds between SIGTERM and SIGKILL: a number of nanoseconds (Nomad's JSON) or a
    /// duration string such as `"10s"`.
    #[serde(
        default,
        deserialize_with = "kill_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub kill_timeout: Option<u64>,
}

impl TaskSpec {
    /// The task's kill timeout: its own or Nomad's default, capped at the client's maximum.
    pub(super) fn kill_timeout(&self) -> Duration {
        self.kill_timeout
            .map_or(DEFAULT_KILL_TIMEOUT, Duration::from_nanos)
            .min(MAX_KILL_TIMEOUT)
    }
}

/// Nomad's task `LogConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    /// Rotated files kept per stream.
    pub max_files: u32,
    /// The size at which a file is rotated, in MB.
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: u32,
    /// Discard the output instead of logging it.
    pub disabled: bool,
}

impl Default for LogConfig {
    /// Nomad's defaults: ten files of 10 MB.
    fn default() -> Self {
        Self {
            max_files: 10,
            max_file_size_mb: 10,
            disabled: false,
        }
    }
}

fn default_namespace() -> String {
    "default".into()
}

fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn kill_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let invalid = || D::Error::custom("KillTimeout must be nanoseconds or a duration string");
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64().map(Some).ok_or_else(invalid),
        Some(serde_json::Value::String(text)) => crate::util::duration::parse(&text)
            .map(|d| Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
            .map_err(D::Error::custom),
        Some(_) => Err(invalid()),
    }
}

/// Read one spec file and check what serde cannot: a UUID id, task names that are plain
/// directory names (and unique), a command per task, log limits of at least one.
pub(super) fn read_spec(path: &Path) -> Result<AllocSpec> {
    let text = std::fs::read(path).context("failed to read")?;
    let spec: AllocSpec = serde_json::from_slice(&text).context("invalid JSON spec")?;
    uuid::Uuid::try_parse(&spec.id).context("ID must be a 36-character UUID")?;
    for (i, task) in spec.tasks.iter().enumerate() {
        let plain = !task.name.is_empty()
            && task.name != "alloc"
            && !task.name.starts_with('.')
            && !task.name.contains(['/', '\0']);
        anyhow::ensure!(plain, "invalid task name {:?}", task.name);
        anyhow::ensure!(
            spec.tasks[..i].iter().all(|t| t.name != task.name),
            "duplicate task name {:?}",
            task.name
        );
        anyhow::ensure!(
            !task.command.is_empty(),
            "task {:?} has no Command",
            task.name
        );
        let logs = &task.log_config;
        anyhow::ensure!(
            logs.max_files >= 1,
            "task {:?}: LogConfig.MaxFiles must be at least 1",
            task.name
        );
        anyhow::ensure!(
            logs.max_file_size_mb >= 1,
            "task {:?}: LogConfig.MaxFileSizeMB must be at least 1",
            task.name
        );
    }
    Ok(spec)
}
