//! Static allocations: a directory of allocation specs (JSON, Nomad field names), the
//! kubelet's static-pod pattern. A spec file places an allocation; removing it stops the
//! allocation, which then stays terminal (and collectable) until garbage-collected.
//!
//! Running the tasks is not this module's job yet: tasks stay `pending`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::state::StateStore;

/// An allocation spec as written by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocSpec {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(rename = "JobID", default)]
    pub job_id: String,
    #[serde(default)]
    pub task_group: String,
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

/// One task of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSpec {
    pub name: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub log_config: Option<serde_json::Value>,
}

fn default_namespace() -> String {
    "default".into()
}

/// An allocation's client status, as Nomad names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    Pending,
    Running,
    Complete,
    Failed,
    Lost,
}

impl ClientStatus {
    fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }
}

/// A task's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Running,
    Dead,
}

/// What the client knows about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub name: String,
    pub state: TaskStatus,
    pub failed: bool,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
}

/// What the client knows about one allocation (persisted in the state store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocRecord {
    pub spec: AllocSpec,
    pub client_status: ClientStatus,
    pub tasks: Vec<TaskRecord>,
}

/// The allocations of this node, their directories and their persisted records.
pub struct Registry {
    alloc_root: PathBuf,
    specs_dir: PathBuf,
    state: Arc<StateStore>,
    allocs: RwLock<BTreeMap<String, AllocRecord>>,
}

impl Registry {
    /// Load the persisted records, then reconcile them with the specs directory.
    pub fn open(alloc_root: &Path, specs_dir: &Path, state: Arc<StateStore>) -> Result<Self> {
        std::fs::create_dir_all(alloc_root).context("failed to create the alloc dir")?;
        std::fs::create_dir_all(specs_dir).context("failed to create the specs dir")?;
        let mut allocs = BTreeMap::new();
        for (id, doc) in state.allocations()? {
            match serde_json::from_value::<AllocRecord>(doc) {
                Ok(record) => {
                    allocs.insert(id, record);
                }
                Err(err) => crate::warn!("ignoring unreadable state of allocation {id}: {err}"),
            }
        }
        let registry = Self {
            alloc_root: alloc_root.to_path_buf(),
            specs_dir: specs_dir.to_path_buf(),
            state,
            allocs: RwLock::new(allocs),
        };
        registry.reconcile();
        Ok(registry)
    }

    /// The specs directory this registry watches.
    pub fn specs_dir(&self) -> &Path {
        &self.specs_dir
    }

    /// Bring the allocations in line with the spec files: place new ones, replace
    /// changed ones, stop those whose file is gone. Bad files are logged and skipped.
    pub fn reconcile(&self) {
        let specs = self.read_specs();
        let mut allocs = self.allocs.write().unwrap_or_else(|e| e.into_inner());
        for spec in specs.values() {
            let unchanged = allocs.get(&spec.id).is_some_and(|r| r.spec == *spec);
            if unchanged {
                continue;
            }
            match self.place(spec) {
                Ok(record) => {
                    crate::info!("placed allocation {} (job {:?})", spec.id, spec.job_id);
                    self.persist(&record);
                    allocs.insert(spec.id.clone(), record);
                }
                Err(err) => crate::error!("failed to place allocation {}: {err:#}", spec.id),
            }
        }
        for (id, record) in allocs.iter_mut() {
            if !specs.contains_key(id) && !record.client_status.is_terminal() {
                stop(record);
                crate::info!("stopped allocation {id}: its spec was removed");
                self.persist(record);
            }
        }
    }

    fn read_specs(&self) -> BTreeMap<String, AllocSpec> {
        let mut specs = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.specs_dir) else {
            return specs;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match read_spec(&path) {
                Ok(spec) => {
                    specs.insert(spec.id.clone(), spec);
                }
                Err(err) => crate::warn!("skipping spec {}: {err:#}", path.display()),
            }
        }
        specs
    }

    /// Create Nomad's alloc-dir layout for a spec and a fresh record for it.
    fn place(&self, spec: &AllocSpec) -> Result<AllocRecord> {
        let dir = self.alloc_root.join(&spec.id);
        for shared in ["alloc/logs", "alloc/data", "alloc/tmp"] {
            make_dir(&dir.join(shared), 0o777)?;
        }
        for task in &spec.tasks {
            let task_dir = dir.join(&task.name);
            make_dir(&task_dir.join("local"), 0o777)?;
            make_dir(&task_dir.join("secrets"), 0o777)?;
            make_dir(&task_dir.join("private"), 0o777)?;
            make_dir(&task_dir.join("tmp"), 0o1777)?;
        }
        Ok(AllocRecord {
            spec: spec.clone(),
            client_status: ClientStatus::Pending,
            tasks: spec
                .tasks
                .iter()
                .map(|t| TaskRecord {
                    name: t.name.clone(),
                    state: TaskStatus::Pending,
                    failed: false,
                    started_at: None,
                    finished_at: None,
                })
                .collect(),
        })
    }

    fn persist(&self, record: &AllocRecord) {
        let stored = serde_json::to_value(record)
            .map_err(anyhow::Error::from)
            .and_then(|doc| self.state.put_allocation(&record.spec.id, &doc));
        if let Err(err) = stored {
            crate::error!("failed to persist allocation {}: {err:#}", record.spec.id);
        }
    }

    /// One allocation's record.
    pub fn get(&self, id: &str) -> Option<AllocRecord> {
        self.allocs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Every allocation's record.
    pub fn list(&self) -> Vec<AllocRecord> {
        self.allocs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Remove a terminal allocation's directory and state. A running one is refused, so a
    /// core that skipped its own check still cannot destroy a live workload.
    pub fn collect(&self, id: &str) -> Result<(), String> {
        let mut allocs = self.allocs.write().unwrap_or_else(|e| e.into_inner());
        match allocs.get(id) {
            None => return Err(format!("allocation {id} is not on this client")),
            Some(record) if !record.client_status.is_terminal() => {
                return Err(format!("allocation {id} is not terminal"));
            }
            Some(_) => {}
        }
        let dir = self.alloc_root.join(id);
        if let Err(err) = std::fs::remove_dir_all(&dir)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            return Err(format!("failed to remove the allocation directory: {err}"));
        }
        self.state
            .remove_allocation(id)
            .map_err(|e| format!("failed to remove the allocation state: {e:#}"))?;
        allocs.remove(id);
        crate::info!("garbage-collected allocation {id}");
        Ok(())
    }
}

fn read_spec(path: &Path) -> Result<AllocSpec> {
    let text = std::fs::read(path).context("failed to read")?;
    let spec: AllocSpec = serde_json::from_slice(&text).context("invalid JSON spec")?;
    uuid::Uuid::try_parse(&spec.id).context("ID must be a 36-character UUID")?;
    for task in &spec.tasks {
        let plain = !task.name.is_empty()
            && task.name != "alloc"
            && !task.name.starts_with('.')
            && !task.name.contains(['/', '\0']);
        anyhow::ensure!(plain, "invalid task name {:?}", task.name);
    }
    Ok(spec)
}

fn stop(record: &mut AllocRecord) {
    let now = SystemTime::now();
    record.client_status = ClientStatus::Complete;
    for task in &mut record.tasks {
        task.state = TaskStatus::Dead;
        task.finished_at.get_or_insert(now);
    }
}

fn make_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5fc98185-17ff-26bc-a802-0c74fa471c99";

    fn write_spec(dir: &Path) {
        let spec = format!(
            r#"{{"ID":"{ID}","JobID":"redis","TaskGroup":"cache","Tasks":[{{"Name":"redis","Command":"/bin/true"}}]}}"#
        );
        std::fs::write(dir.join("redis.json"), spec).unwrap();
    }

    #[test]
    fn specs_place_stop_and_collect() {
        let tmp = tempfile::tempdir().unwrap();
        let (allocs, specs) = (tmp.path().join("alloc"), tmp.path().join("specs"));
        std::fs::create_dir_all(&specs).unwrap();
        write_spec(&specs);
        std::fs::write(specs.join("bad.json"), "{not json").unwrap();
        let state = Arc::new(StateStore::open(&tmp.path().join("client")).unwrap());
        let registry = Registry::open(&allocs, &specs, state.clone()).unwrap();
        let record = registry.get(ID).unwrap();
        assert_eq!(record.client_status, ClientStatus::Pending);
        assert!(allocs.join(ID).join("redis/secrets").is_dir());
        assert!(allocs.join(ID).join("alloc/logs").is_dir());
        assert!(
            registry.collect(ID).is_err(),
            "a live allocation is not collectable"
        );

        std::fs::remove_file(specs.join("redis.json")).unwrap();
        registry.reconcile();
        assert_eq!(
            registry.get(ID).unwrap().client_status,
            ClientStatus::Complete
        );

        drop(registry);
        let registry = Registry::open(&allocs, &specs, state).unwrap();
        assert_eq!(
            registry.get(ID).unwrap().client_status,
            ClientStatus::Complete,
            "state survives a restart"
        );
        registry.collect(ID).unwrap();
        assert!(registry.get(ID).is_none());
        assert!(!allocs.join(ID).exists());
    }
}
