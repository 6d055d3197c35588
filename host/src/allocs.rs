//! Static allocations: a directory of allocation specs (JSON, Nomad field names), the
//! kubelet's static-pod pattern. A spec file places an allocation and runs its tasks;
//! removing it stops the allocation, which then stays terminal (and collectable) until
//! garbage-collected. A changed spec stops the old allocation and places the new one.
//!
//! Every state change is written to the state store before anyone can observe it through
//! the API, so an agent that is killed and restarted finds each allocation as it was: terminal
//! ones stay terminal and readable, and tasks that were running are started again (their
//! leftovers, if the old agent's death did not take them, are stopped first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};

use crate::procstats::{TaskSample, TaskStats};
use crate::state::StateStore;
use crate::tasks::{self, Launch, LogTarget, Outcome, TaskControl};

/// Nomad's default `kill_timeout`.
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Nomad's default client `max_kill_timeout`, which caps any task's kill timeout.
const MAX_KILL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a collection waits for the processes it has just SIGKILLed.
const COLLECT_WAIT: Duration = Duration::from_secs(5);

/// Variables of the agent's environment never passed to tasks (Nomad's default
/// `env.denylist`): the agent's credentials are not the task's.
const ENV_DENYLIST: [&str; 15] = [
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "CONSUL_LICENSE_PATH",
    "NOMAD_LICENSE_PATH",
    "VAULT_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

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

/// One task of a spec, run raw_exec-style.
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
    fn kill_timeout(&self) -> Duration {
        self.kill_timeout
            .map_or(DEFAULT_KILL_TIMEOUT, Duration::from_nanos)
            .min(MAX_KILL_TIMEOUT)
    }
}

/// Nomad's task `LogConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    pub max_files: u32,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: u32,
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
        Some(serde_json::Value::String(text)) => crate::duration::parse(&text)
            .map(|d| Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
            .map_err(D::Error::custom),
        Some(_) => Err(invalid()),
    }
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
    /// Whether the allocation is over (and so collectable).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }

    fn name(self) -> &'static str {
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
    #[serde(default)]
    pub start_ticks: Option<u64>,
}

impl TaskRecord {
    fn pending(name: &str) -> Self {
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
        }
    }
}

/// What the client knows about one allocation (persisted in the state store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocRecord {
    pub spec: AllocSpec,
    pub client_status: ClientStatus,
    pub tasks: Vec<TaskRecord>,
}

impl AllocRecord {
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
fn client_status(tasks: &[TaskRecord], stopping: bool) -> ClientStatus {
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

/// What the state store holds per allocation id.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Record(AllocRecord),
    /// Collected while its spec file stays: the id is not placed again for the same spec.
    Collected {
        #[serde(rename = "Collected")]
        spec: AllocSpec,
    },
}

/// The allocations of this node, their directories, processes and persisted records.
pub struct Registry {
    specs_dir: PathBuf,
    shared: Arc<Shared>,
    allocs: Mutex<Allocs>,
}

/// Locked together, so that placing and collecting see one consistent picture.
#[derive(Default)]
struct Allocs {
    placed: BTreeMap<String, Arc<Alloc>>,
    /// Specs of allocations collected while their spec file remained (an allocation runs
    /// once); forgotten when the file goes or changes.
    collected: BTreeMap<String, AllocSpec>,
    /// Which allocation each spec file last described, so that a file caught half-written
    /// (or broken by an edit) holds its allocation as it is instead of stopping it.
    files: BTreeMap<PathBuf, String>,
}

/// What the specs directory holds.
struct SpecFiles {
    specs: BTreeMap<String, AllocSpec>,
    /// Good files and the allocation each describes.
    files: BTreeMap<PathBuf, String>,
    /// Files that did not read as a valid spec.
    unreadable: Vec<PathBuf>,
}

/// What every allocation's threads need.
struct Shared {
    alloc_root: PathBuf,
    state: Arc<StateStore>,
    usage: TaskStats,
    /// Set when the agent shuts down: tasks are stopped then, but their state is left as
    /// it was, so the next agent starts them again.
    shutting_down: AtomicBool,
    /// The agent's environment without [`ENV_DENYLIST`]: raw_exec tasks inherit the host's.
    base_env: BTreeMap<String, String>,
}

/// One placed allocation: its spec, its live record and one control per task.
struct Alloc {
    spec: AllocSpec,
    live: Mutex<Live>,
    tasks: Vec<Arc<TaskControl>>,
}

struct Live {
    record: AllocRecord,
    /// Its spec is gone or replaced, or a task failed: no task starts any more.
    stopping: bool,
    /// A newer placement of the same id, or a collection, owns the persisted state now.
    detached: bool,
    /// Its spec file was there at the last reconciliation.
    in_specs: bool,
}

impl Registry {
    /// Load the persisted records, reconcile them with the specs directory, then run what
    /// should run. `stats_interval` is how often running tasks' usage is sampled.
    pub fn open(
        alloc_root: &Path,
        specs_dir: &Path,
        state: Arc<StateStore>,
        stats_interval: Duration,
    ) -> Result<Self> {
        std::fs::create_dir_all(alloc_root).context("failed to create the alloc dir")?;
        std::fs::create_dir_all(specs_dir).context("failed to create the specs dir")?;
        // Tasks get absolute paths in their environment, whatever the agent's working dir.
        let alloc_root =
            std::fs::canonicalize(alloc_root).context("failed to resolve the alloc dir")?;
        let mut restored = Vec::new();
        let mut collected = BTreeMap::new();
        for (id, doc) in state.allocations()? {
            match serde_json::from_value::<Stored>(doc) {
                Ok(Stored::Record(record)) if record.spec.id == id => {
                    restored.push(Arc::new(Alloc::restore(record)))
                }
                Ok(Stored::Collected { spec }) if spec.id == id => {
                    collected.insert(id, spec);
                }
                Ok(_) => {
                    tracing::warn!("ignoring the state of allocation {id}: its id does not match")
                }
                Err(err) => tracing::warn!("ignoring unreadable state of allocation {id}: {err}"),
            }
        }
        let base_env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| !ENV_DENYLIST.contains(&k.as_str()))
            .collect();
        let registry = Self {
            specs_dir: specs_dir.to_path_buf(),
            shared: Arc::new(Shared {
                alloc_root,
                state,
                usage: TaskStats::start(stats_interval),
                shutting_down: AtomicBool::new(false),
                base_env,
            }),
            allocs: Mutex::new(Allocs {
                placed: restored
                    .iter()
                    .map(|a| (a.spec.id.clone(), a.clone()))
                    .collect(),
                collected,
                files: BTreeMap::new(),
            }),
        };
        for alloc in &restored {
            // Over before the agent stopped, but with tasks it did not see end: only their
            // leftovers need stopping.
            if alloc.live().record.client_status.is_terminal() {
                alloc.stop(&registry.shared);
            }
        }
        registry.reconcile();
        for alloc in restored {
            alloc.start(&registry.shared, None);
        }
        Ok(registry)
    }

    /// The specs directory this registry watches.
    pub fn specs_dir(&self) -> &Path {
        &self.specs_dir
    }

    fn allocs(&self) -> MutexGuard<'_, Allocs> {
        self.allocs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bring the allocations in line with the spec files: place new ones, replace
    /// changed ones, stop those whose file is gone. Bad files are logged and skipped.
    pub fn reconcile(&self) {
        if self.shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let found = match self.read_specs() {
            Ok(found) => found,
            Err(err) => {
                // Not "every spec is gone": nothing is stopped on a failed listing.
                tracing::error!("failed to read the specs dir: {err}");
                return;
            }
        };
        let specs = found.specs;
        let mut allocs = self.allocs();
        let mut files = found.files;
        let mut held = std::collections::BTreeSet::new();
        for path in found.unreadable {
            if let Some(id) = allocs.files.get(&path) {
                tracing::warn!("allocation {id}: kept as it is while its spec file is unreadable");
                held.insert(id.clone());
                files.insert(path, id.clone());
            }
        }
        allocs.files = files;
        let gone: Vec<String> = allocs
            .collected
            .iter()
            .filter(|(id, spec)| specs.get(*id) != Some(spec) && !held.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            allocs.collected.remove(&id);
            if let Err(err) = self.shared.state.remove_allocation(&id) {
                tracing::error!("failed to forget collected allocation {id}: {err:#}");
            }
        }
        for spec in specs.values() {
            if allocs.collected.contains_key(&spec.id) {
                continue;
            }
            let previous = allocs.placed.get(&spec.id).cloned();
            if let Some(previous) = &previous
                && previous.spec == *spec
            {
                previous.live().in_specs = true;
                continue;
            }
            if let Some(previous) = &previous {
                tracing::info!("allocation {}: spec changed, replacing it", spec.id);
                previous.live().detached = true;
                previous.stop(&self.shared);
            }
            match self.place(spec) {
                Ok(alloc) => {
                    tracing::info!("placed allocation {} (job {:?})", spec.id, spec.job_id);
                    allocs.placed.insert(spec.id.clone(), alloc.clone());
                    alloc.start(&self.shared, previous);
                }
                Err(err) => tracing::error!("failed to place allocation {}: {err:#}", spec.id),
            }
        }
        for (id, alloc) in &allocs.placed {
            if specs.contains_key(id) || held.contains(id) {
                continue;
            }
            alloc.live().in_specs = false;
            if !alloc.live().stopping {
                tracing::info!("allocation {id}: spec removed, stopping it");
                alloc.stop(&self.shared);
            }
        }
    }

    fn read_specs(&self) -> std::io::Result<SpecFiles> {
        let mut found = SpecFiles {
            specs: BTreeMap::new(),
            files: BTreeMap::new(),
            unreadable: Vec::new(),
        };
        for entry in std::fs::read_dir(&self.specs_dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match read_spec(&path) {
                Ok(spec) => {
                    if let Some(other) = found.files.iter().find(|(_, id)| **id == spec.id) {
                        tracing::warn!(
                            "specs {} and {} both describe allocation {}; one is ignored",
                            other.0.display(),
                            path.display(),
                            spec.id
                        );
                    }
                    found.files.insert(path, spec.id.clone());
                    found.specs.insert(spec.id.clone(), spec);
                }
                Err(err) => {
                    tracing::warn!("skipping spec {}: {err:#}", path.display());
                    found.unreadable.push(path);
                }
            }
        }
        Ok(found)
    }

    /// Create Nomad's alloc-dir layout for a spec and persist a fresh record for it.
    fn place(&self, spec: &AllocSpec) -> Result<Arc<Alloc>> {
        let dir = self.shared.alloc_root.join(&spec.id);
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
        let record = AllocRecord {
            spec: spec.clone(),
            client_status: ClientStatus::Pending,
            tasks: spec
                .tasks
                .iter()
                .map(|t| TaskRecord::pending(&t.name))
                .collect(),
        };
        persist(&self.shared, &record);
        Ok(Arc::new(Alloc {
            spec: spec.clone(),
            tasks: spec
                .tasks
                .iter()
                .map(|_| Arc::new(TaskControl::new()))
                .collect(),
            live: Mutex::new(Live {
                record,
                stopping: false,
                detached: false,
                in_specs: true,
            }),
        }))
    }

    /// One allocation's record.
    pub fn get(&self, id: &str) -> Option<AllocRecord> {
        let alloc = self.allocs().placed.get(id)?.clone();
        Some(alloc.live().record.clone())
    }

    /// Every allocation's record.
    pub fn list(&self) -> Vec<AllocRecord> {
        let allocs: Vec<Arc<Alloc>> = self.allocs().placed.values().cloned().collect();
        allocs.iter().map(|a| a.live().record.clone()).collect()
    }

    /// The latest usage samples of an allocation's running tasks.
    pub fn usage(&self, id: &str) -> Vec<TaskSample> {
        self.shared.usage.allocation(id)
    }

    /// Destroy a terminal allocation: kill what is left of its tasks (siblings of a failed
    /// task may still be stopping), remove its directory and its state. A live one is
    /// refused, so a core that skipped its own check still cannot destroy a workload.
    pub fn collect(&self, id: &str) -> Result<(), String> {
        let alloc = match self.allocs().placed.get(id) {
            None => return Err(format!("allocation {id} is not on this client")),
            Some(alloc) if !alloc.live().record.client_status.is_terminal() => {
                return Err(format!("allocation {id} is not terminal"));
            }
            Some(alloc) => alloc.clone(),
        };
        for task in &alloc.tasks {
            task.kill();
        }
        if !alloc.tasks.iter().all(|t| t.wait_done(COLLECT_WAIT)) {
            return Err(format!("the tasks of allocation {id} did not exit"));
        }
        let mut allocs = self.allocs();
        match allocs.placed.get(id) {
            // Collected meanwhile by another request.
            None => return Ok(()),
            Some(current) if !Arc::ptr_eq(current, &alloc) => {
                return Err(format!("allocation {id} was replaced meanwhile"));
            }
            Some(_) => {}
        }
        let in_specs = {
            let mut live = alloc.live();
            live.detached = true;
            live.in_specs
        };
        let dir = self.shared.alloc_root.join(id);
        if let Err(err) = std::fs::remove_dir_all(&dir)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            return Err(format!("failed to remove the allocation directory: {err}"));
        }
        let forgotten = if in_specs {
            let tombstone = Stored::Collected {
                spec: alloc.spec.clone(),
            };
            serde_json::to_value(&tombstone)
                .map_err(anyhow::Error::from)
                .and_then(|doc| self.shared.state.put_allocation(id, &doc))
        } else {
            self.shared.state.remove_allocation(id)
        };
        forgotten.map_err(|e| format!("failed to remove the allocation state: {e:#}"))?;
        allocs.placed.remove(id);
        if in_specs {
            allocs.collected.insert(id.to_owned(), alloc.spec.clone());
        }
        tracing::info!("garbage-collected allocation {id}");
        Ok(())
    }

    /// Stop every task for the agent's exit (SIGTERM, SIGKILL after each kill timeout),
    /// leaving the persisted states as they are so that the next agent resumes them.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let allocs: Vec<Arc<Alloc>> = self.allocs().placed.values().cloned().collect();
        let tasks: Vec<(&TaskControl, Duration)> =
            allocs.iter().flat_map(|a| a.stoppable()).collect();
        tasks::stop_all(&tasks);
    }
}

impl Alloc {
    /// An allocation as the state store remembers it: tasks that were not dead will run
    /// again (unless it is stopped before [`Alloc::start`]).
    fn restore(record: AllocRecord) -> Self {
        let tasks = record
            .tasks
            .iter()
            .map(|t| {
                Arc::new(if t.state == TaskStatus::Dead {
                    TaskControl::finished()
                } else {
                    TaskControl::new()
                })
            })
            .collect();
        Self {
            spec: record.spec.clone(),
            tasks,
            live: Mutex::new(Live {
                record,
                stopping: false,
                detached: false,
                // Until the first reconciliation says otherwise.
                in_specs: true,
            }),
        }
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a supervisor thread for each task not over yet. With `previous` (the
    /// allocation this one replaces), tasks start only once all of its tasks are over.
    fn start(self: &Arc<Self>, shared: &Arc<Shared>, previous: Option<Arc<Alloc>>) {
        for (index, control) in self.tasks.iter().enumerate() {
            if control.is_done() {
                continue;
            }
            let (alloc, for_thread, previous) = (self.clone(), shared.clone(), previous.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("task-{}", self.spec.tasks[index].name))
                .spawn(move || alloc.supervise(&for_thread, index, previous.as_deref()));
            if let Err(err) = spawned {
                self.finish_task(
                    shared,
                    index,
                    &Outcome::StartFailed(format!("no thread: {err}")),
                );
            }
        }
    }

    /// Stop the allocation: no task starts any more, running ones get SIGTERM now and
    /// SIGKILL after their kill timeout (on a thread, so the caller does not wait).
    fn stop(self: &Arc<Self>, shared: &Arc<Shared>) {
        {
            let mut live = self.live();
            if live.stopping {
                return;
            }
            live.stopping = true;
            if self.tasks.is_empty() {
                self.update(shared, &mut live, |_| {});
            }
        }
        if self.tasks.iter().all(|t| t.is_done()) {
            return;
        }
        let alloc = self.clone();
        let spawned = std::thread::Builder::new()
            .name("alloc-stop".into())
            .spawn(move || tasks::stop_all(&alloc.stoppable()));
        if let Err(err) = spawned {
            tracing::error!(
                "allocation {}: no thread to stop it, killing: {err}",
                self.spec.id
            );
            for task in &self.tasks {
                task.kill();
            }
        }
    }

    /// Apply a change to the record, derive the client status, and persist the result.
    fn update(&self, shared: &Shared, live: &mut Live, change: impl FnOnce(&mut AllocRecord)) {
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        change(&mut live.record);
        let status = client_status(&live.record.tasks, live.stopping);
        if status != live.record.client_status {
            tracing::info!("allocation {} is {}", self.spec.id, status.name());
            live.record.client_status = status;
        }
        if !live.detached {
            persist(shared, &live.record);
        }
    }

    /// One task's whole life, on its own thread.
    fn supervise(self: &Arc<Self>, shared: &Arc<Shared>, index: usize, previous: Option<&Alloc>) {
        if let Some(previous) = previous {
            for task in &previous.tasks {
                while !task.wait_done(Duration::from_secs(60)) {}
            }
        }
        let spec = &self.spec.tasks[index];
        let id = &self.spec.id;
        let recorded = {
            let live = self.live();
            let task = &live.record.tasks[index];
            task.pid.zip(task.start_ticks)
        };
        if let Some((pid, start_ticks)) = recorded {
            let markers = [
                ("NOMAD_ALLOC_ID", id.as_str()),
                ("NOMAD_TASK_NAME", spec.name.as_str()),
            ];
            let found = tasks::stop_leftovers(pid, start_ticks, &markers, spec.kill_timeout());
            if found > 0 {
                tracing::info!(
                    "allocation {id}: stopped {found} leftover process(es) of task {}",
                    spec.name
                );
            }
        }
        let launch = self.launch(shared, index);
        let outcome = tasks::run(&self.tasks[index], &launch, |started| {
            tracing::info!("{}: started (pid {})", launch.label, started.pid);
            shared.usage.track(id, &spec.name, started.pid);
            let mut live = self.live();
            self.update(shared, &mut live, |record| {
                let task = &mut record.tasks[index];
                task.state = TaskStatus::Running;
                task.started_at = Some(SystemTime::now());
                task.finished_at = None;
                task.pid = Some(started.pid);
                task.start_ticks = Some(started.start_ticks);
            });
        });
        shared.usage.untrack(id, &spec.name);
        self.finish_task(shared, index, &outcome);
    }

    /// Record how a task ended, stop its siblings if it failed (as Nomad does), and mark
    /// it over.
    fn finish_task(self: &Arc<Self>, shared: &Arc<Shared>, index: usize, outcome: &Outcome) {
        let label = task_label(&self.spec, index);
        let failed = match outcome {
            Outcome::NotStarted => false,
            Outcome::StartFailed(message) => {
                tracing::error!("{label}: {message}");
                true
            }
            Outcome::Exited {
                code,
                signal,
                stopped,
            } => {
                match (code, signal) {
                    (Some(code), _) => tracing::info!("{label}: exited with code {code}"),
                    (_, Some(signal)) => tracing::info!("{label}: killed by signal {signal}"),
                    _ => tracing::info!("{label}: exited"),
                }
                !stopped && *code != Some(0)
            }
        };
        {
            let mut live = self.live();
            self.update(shared, &mut live, |record| {
                let task = &mut record.tasks[index];
                task.state = TaskStatus::Dead;
                task.failed |= failed;
                task.finished_at = Some(SystemTime::now());
                if let Outcome::Exited { code, signal, .. } = outcome {
                    task.exit_code = *code;
                    task.signal = *signal;
                }
            });
        }
        self.tasks[index].finish();
        if failed && self.tasks.iter().any(|t| !t.is_done()) {
            tracing::info!(
                "allocation {}: a task failed, stopping the others",
                self.spec.id
            );
        }
        if failed {
            self.stop(shared);
        }
    }

    /// Each task's control with its kill timeout, as [`tasks::stop_all`] takes them.
    fn stoppable(&self) -> Vec<(&TaskControl, Duration)> {
        self.tasks
            .iter()
            .zip(&self.spec.tasks)
            .map(|(control, spec)| (&**control, spec.kill_timeout()))
            .collect()
    }

    /// The process to start for task `index`: Nomad's task environment, the task dir as
    /// working directory, logs per its `LogConfig`.
    fn launch(&self, shared: &Shared, index: usize) -> Launch {
        let spec = &self.spec;
        let task = &spec.tasks[index];
        let alloc_dir = shared.alloc_root.join(&spec.id);
        let task_dir = alloc_dir.join(&task.name);
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        let mut env = shared.base_env.clone();
        let nomad = [
            ("NOMAD_ALLOC_DIR", path(alloc_dir.join("alloc"))),
            ("NOMAD_TASK_DIR", path(task_dir.join("local"))),
            ("NOMAD_SECRETS_DIR", path(task_dir.join("secrets"))),
            ("NOMAD_ALLOC_ID", spec.id.clone()),
            ("NOMAD_SHORT_ALLOC_ID", spec.id.chars().take(8).collect()),
            (
                "NOMAD_ALLOC_NAME",
                format!("{}.{}[0]", spec.job_id, spec.task_group),
            ),
            ("NOMAD_ALLOC_INDEX", "0".into()),
            ("NOMAD_TASK_NAME", task.name.clone()),
            ("NOMAD_GROUP_NAME", spec.task_group.clone()),
            ("NOMAD_JOB_ID", spec.job_id.clone()),
            ("NOMAD_JOB_NAME", spec.job_id.clone()),
            ("NOMAD_NAMESPACE", spec.namespace.clone()),
            ("NOMAD_REGION", "global".into()),
            ("NOMAD_DC", "dc1".into()),
        ];
        env.extend(nomad.into_iter().map(|(k, v)| (k.to_owned(), v)));
        env.extend(task.env.clone());
        let logs = (!task.log_config.disabled).then(|| LogTarget {
            dir: alloc_dir.join("alloc/logs"),
            task: task.name.clone(),
            max_files: task.log_config.max_files,
            max_file_size: u64::from(task.log_config.max_file_size_mb) * 1024 * 1024,
        });
        Launch {
            label: task_label(spec, index),
            command: task.command.clone(),
            args: task.args.clone(),
            env,
            dir: task_dir,
            logs,
        }
    }
}

fn task_label(spec: &AllocSpec, index: usize) -> String {
    format!("allocation {} task {}", spec.id, spec.tasks[index].name)
}

fn persist(shared: &Shared, record: &AllocRecord) {
    let stored = serde_json::to_value(record)
        .map_err(anyhow::Error::from)
        .and_then(|doc| shared.state.put_allocation(&record.spec.id, &doc));
    if let Err(err) = stored {
        tracing::error!("failed to persist allocation {}: {err:#}", record.spec.id);
    }
}

fn read_spec(path: &Path) -> Result<AllocSpec> {
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
    use std::time::Instant;

    const ID: &str = "5fc98185-17ff-26bc-a802-0c74fa471c99";

    struct Setup {
        tmp: tempfile::TempDir,
        state: Arc<StateStore>,
    }

    impl Setup {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(tmp.path().join("specs")).unwrap();
            let state = Arc::new(StateStore::open(&tmp.path().join("client")).unwrap());
            Self { tmp, state }
        }

        fn spec(&self, name: &str, spec: serde_json::Value) {
            let path = self.tmp.path().join("specs").join(format!("{name}.json"));
            std::fs::write(path, serde_json::to_vec(&spec).unwrap()).unwrap();
        }

        fn unspec(&self, name: &str) {
            std::fs::remove_file(self.tmp.path().join("specs").join(format!("{name}.json")))
                .unwrap();
        }

        fn open(&self) -> Registry {
            let root = self.tmp.path().join("alloc");
            let specs = self.tmp.path().join("specs");
            Registry::open(&root, &specs, self.state.clone(), Duration::from_millis(50)).unwrap()
        }

        fn logs(&self, id: &str) -> PathBuf {
            self.tmp.path().join("alloc").join(id).join("alloc/logs")
        }
    }

    fn sh(name: &str, script: &str) -> serde_json::Value {
        serde_json::json!({"Name": name, "Command": "/bin/sh", "Args": ["-c", script]})
    }

    fn alloc(tasks: &[serde_json::Value]) -> serde_json::Value {
        serde_json::json!({"ID": ID, "JobID": "redis", "TaskGroup": "cache", "Tasks": tasks})
    }

    fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn status(registry: &Registry) -> ClientStatus {
        registry.get(ID).unwrap().client_status
    }

    #[test]
    fn client_status_follows_nomad() {
        let task = |state: TaskStatus, failed| TaskRecord {
            state,
            failed,
            ..TaskRecord::pending("t")
        };
        let (pending, running, dead) = (TaskStatus::Pending, TaskStatus::Running, TaskStatus::Dead);
        let cases = [
            (vec![task(pending, false)], ClientStatus::Pending),
            (
                vec![task(running, false), task(pending, false)],
                ClientStatus::Running,
            ),
            (
                vec![task(running, false), task(dead, false)],
                ClientStatus::Running,
            ),
            (
                vec![task(running, false), task(dead, true)],
                ClientStatus::Failed,
            ),
            (
                vec![task(dead, false), task(dead, false)],
                ClientStatus::Complete,
            ),
            (
                vec![task(dead, false), task(pending, false)],
                ClientStatus::Pending,
            ),
        ];
        for (tasks, want) in cases {
            assert_eq!(client_status(&tasks, false), want, "{tasks:?}");
        }
        assert_eq!(client_status(&[], false), ClientStatus::Pending);
        assert_eq!(client_status(&[], true), ClientStatus::Complete);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        let cases = [
            ("{not json", "invalid JSON"),
            (r#"{"ID":"short"}"#, "UUID"),
            (&alloc(&[serde_json::json!({"Name": "web"})]).to_string(), "no Command"),
            (&alloc(&[sh("../x", "true")]).to_string(), "invalid task name"),
            (&alloc(&[sh("web", "true"), sh("web", "true")]).to_string(), "duplicate"),
            (
                &alloc(&[serde_json::json!({"Name": "web", "Command": "x", "LogConfig": {"MaxFiles": 0}})])
                    .to_string(),
                "MaxFiles",
            ),
            (
                &alloc(&[serde_json::json!({"Name": "web", "Command": "x", "KillTimeout": "soon"})])
                    .to_string(),
                "invalid duration",
            ),
            (
                &alloc(&[serde_json::json!({"Name": "web", "Command": "x", "KillTimeout": -1})])
                    .to_string(),
                "KillTimeout",
            ),
        ];
        for (text, reason) in cases {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", read_spec(&path).unwrap_err());
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn spec_fields_have_nomads_defaults_and_forms() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        let tasks = [
            serde_json::json!({"Name": "a", "Command": "x", "LogConfig": null}),
            serde_json::json!({"Name": "b", "Command": "x", "KillTimeout": 2_000_000_000u64,
                               "LogConfig": {"Disabled": true}}),
            serde_json::json!({"Name": "c", "Command": "x", "KillTimeout": "1m"}),
        ];
        std::fs::write(&path, alloc(&tasks).to_string()).unwrap();
        let spec = read_spec(&path).unwrap();
        assert_eq!(spec.namespace, "default");
        assert_eq!(spec.tasks[0].log_config, LogConfig::default());
        assert_eq!(spec.tasks[0].kill_timeout(), DEFAULT_KILL_TIMEOUT);
        assert!(spec.tasks[1].log_config.disabled);
        assert_eq!(spec.tasks[1].log_config.max_files, 10);
        assert_eq!(spec.tasks[1].kill_timeout(), Duration::from_secs(2));
        assert_eq!(spec.tasks[2].kill_timeout(), MAX_KILL_TIMEOUT, "capped");
        let round_trip: AllocSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(round_trip, spec);
    }

    #[test]
    fn tasks_run_stop_and_are_collected() {
        let setup = Setup::new();
        setup.spec("redis", alloc(&[sh("redis", "echo up; exec sleep 1000")]));
        let registry = setup.open();
        wait_for("running", || status(&registry) == ClientStatus::Running);
        let task = &registry.get(ID).unwrap().tasks[0];
        assert_eq!(task.state, TaskStatus::Running);
        assert!(task.started_at.is_some() && task.finished_at.is_none());
        let dir = setup.tmp.path().join("alloc").join(ID);
        assert!(dir.join("redis/secrets").is_dir());
        wait_for("output", || {
            std::fs::read(setup.logs(ID).join("redis.stdout.0")).is_ok_and(|d| d == b"up\n")
        });
        wait_for("a usage sample", || !registry.usage(ID).is_empty());
        assert!(
            registry.collect(ID).is_err(),
            "a live allocation is not collectable"
        );

        setup.unspec("redis");
        registry.reconcile();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
        let task = &registry.get(ID).unwrap().tasks[0];
        assert_eq!((task.state, task.failed), (TaskStatus::Dead, false));
        assert_eq!(task.signal, Some(libc::SIGTERM));
        assert!(
            registry.usage(ID).is_empty(),
            "only running tasks are sampled"
        );

        drop(registry);
        let registry = setup.open();
        assert_eq!(
            status(&registry),
            ClientStatus::Complete,
            "state survives a restart"
        );
        registry.collect(ID).unwrap();
        assert!(registry.get(ID).is_none());
        assert!(!dir.exists());
        assert!(setup.state.allocations().unwrap().is_empty());
    }

    #[test]
    fn a_broken_spec_file_holds_its_allocation_as_it_is() {
        let setup = Setup::new();
        setup.spec("web", alloc(&[sh("web", "exec sleep 1000")]));
        let registry = setup.open();
        wait_for("running", || status(&registry) == ClientStatus::Running);
        let path = setup.tmp.path().join("specs/web.json");
        std::fs::write(&path, b"{\"ID\": \"5fc9").unwrap();
        registry.reconcile();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            status(&registry),
            ClientStatus::Running,
            "half a file stops nothing"
        );
        std::fs::remove_file(&path).unwrap();
        registry.reconcile();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
    }

    #[test]
    fn a_collected_allocation_runs_once_while_its_spec_stays() {
        let setup = Setup::new();
        setup.spec("job", alloc(&[sh("job", "echo ran")]));
        let registry = setup.open();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
        registry.collect(ID).unwrap();
        registry.reconcile();
        assert!(registry.get(ID).is_none(), "not placed again");
        drop(registry);
        let registry = setup.open();
        assert!(
            registry.get(ID).is_none(),
            "not placed again after a restart"
        );

        // Once its file is gone the id is forgotten: adding it again is a new placement.
        setup.unspec("job");
        registry.reconcile();
        assert!(setup.state.allocations().unwrap().is_empty());
        setup.spec("job", alloc(&[sh("job", "echo ran")]));
        registry.reconcile();
        wait_for("complete", || {
            registry
                .get(ID)
                .is_some_and(|r| r.client_status == ClientStatus::Complete)
        });
        // A changed spec replaces a collected allocation too.
        registry.collect(ID).unwrap();
        setup.spec("job", alloc(&[sh("job", "echo changed")]));
        registry.reconcile();
        assert!(registry.get(ID).is_some());
    }

    #[test]
    fn exit_codes_decide_complete_or_failed() {
        let setup = Setup::new();
        setup.spec("ok", alloc(&[sh("a", "exit 0"), sh("b", "exit 0")]));
        let registry = setup.open();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
        assert_eq!(registry.get(ID).unwrap().tasks[1].exit_code, Some(0));

        // A changed spec replaces the allocation.
        setup.spec(
            "ok",
            alloc(&[sh("a", "exec sleep 1000"), sh("b", "sleep 0.2; exit 3")]),
        );
        registry.reconcile();
        wait_for("failed", || status(&registry) == ClientStatus::Failed);
        wait_for("the sibling stopped", || {
            registry.get(ID).unwrap().tasks[0].state == TaskStatus::Dead
        });
        let record = registry.get(ID).unwrap();
        assert_eq!(
            (record.tasks[1].failed, record.tasks[1].exit_code),
            (true, Some(3))
        );
        assert!(
            !record.tasks[0].failed,
            "a task stopped by its sibling's failure is not failed"
        );
    }

    #[test]
    fn a_command_that_cannot_start_fails_the_allocation() {
        let setup = Setup::new();
        setup.spec(
            "x",
            alloc(&[serde_json::json!({"Name": "x", "Command": "/nonexistent/cmd"})]),
        );
        let registry = setup.open();
        wait_for("failed", || status(&registry) == ClientStatus::Failed);
        assert!(registry.get(ID).unwrap().tasks[0].failed);
    }

    #[test]
    fn tasks_get_nomads_environment_and_their_directory() {
        let setup = Setup::new();
        let mut task = sh(
            "web",
            "pwd; echo $NOMAD_ALLOC_ID $NOMAD_TASK_NAME $NOMAD_GROUP_NAME $NOMAD_JOB_NAME \
             $NOMAD_NAMESPACE $NOMAD_ALLOC_NAME $NOMAD_SHORT_ALLOC_ID $EXTRA; \
             echo $NOMAD_ALLOC_DIR $NOMAD_TASK_DIR $NOMAD_SECRETS_DIR; echo oops >&2",
        );
        task["Env"] = serde_json::json!({"EXTRA": "x1"});
        setup.spec("web", alloc(&[task]));
        let registry = setup.open();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
        let root = std::fs::canonicalize(setup.tmp.path().join("alloc")).unwrap();
        let dir = root.join(ID);
        let out = std::fs::read_to_string(setup.logs(ID).join("web.stdout.0")).unwrap();
        let d = |p: &str| dir.join(p).display().to_string();
        assert_eq!(
            out,
            format!(
                "{}\n{ID} web cache redis default redis.cache[0] 5fc98185 x1\n{} {} {}\n",
                d("web"),
                d("alloc"),
                d("web/local"),
                d("web/secrets")
            )
        );
        assert_eq!(
            std::fs::read(setup.logs(ID).join("web.stderr.0")).unwrap(),
            b"oops\n"
        );
    }

    #[test]
    fn disabled_logs_write_no_files() {
        let setup = Setup::new();
        let mut task = sh("quiet", "echo hidden; echo hidden >&2");
        task["LogConfig"] = serde_json::json!({"Disabled": true});
        setup.spec("quiet", alloc(&[task]));
        let registry = setup.open();
        wait_for("complete", || status(&registry) == ClientStatus::Complete);
        assert_eq!(std::fs::read_dir(setup.logs(ID)).unwrap().count(), 0);
    }

    #[test]
    fn a_restarted_agent_runs_running_tasks_again_with_fresh_log_files() {
        let setup = Setup::new();
        setup.spec(
            "redis",
            alloc(&[
                sh("redis", "echo run; exec sleep 1000"),
                sh("once", "echo done"),
            ]),
        );
        let registry = setup.open();
        let stdout = |n: u32| std::fs::read(setup.logs(ID).join(format!("redis.stdout.{n}")));
        wait_for("output", || stdout(0).is_ok_and(|d| d == b"run\n"));
        wait_for("the short task to finish", || {
            registry.get(ID).unwrap().tasks[1].state == TaskStatus::Dead
        });
        let first_pid = registry.get(ID).unwrap().tasks[0].pid.unwrap();
        registry.shutdown();
        assert!(crate::procstats::read_stat(first_pid).is_none_or(|p| p.zombie));
        assert_eq!(
            status(&registry),
            ClientStatus::Running,
            "shutdown keeps the state"
        );
        drop(registry);

        let registry = setup.open();
        wait_for("the new run's output", || {
            stdout(1).is_ok_and(|d| d == b"run\n")
        });
        assert_eq!(stdout(0).unwrap(), b"run\n", "the old file is untouched");
        let record = registry.get(ID).unwrap();
        assert_eq!(record.client_status, ClientStatus::Running);
        assert_ne!(record.tasks[0].pid, Some(first_pid));
        assert_eq!(
            record.tasks[1].state,
            TaskStatus::Dead,
            "a finished task stays finished"
        );
        assert!(!setup.logs(ID).join("once.stdout.1").exists());
        registry.shutdown();
    }
}
