//! Static allocations: a directory of allocation specs (JSON, Nomad field names), the
//! kubelet's static-pod pattern. A spec file places an allocation and runs its tasks;
//! removing it stops the allocation, which then stays terminal (and collectable) until
//! garbage-collected. A changed spec stops the old allocation and places the new one.
//!
//! Every state change is written to the state store before anyone can observe it through
//! the API, so an agent that is killed and restarted finds each allocation as it was: terminal
//! ones stay terminal and readable, and tasks that were running still run: each is owned by
//! an executor process of its own (see [`executor`]), which the new agent re-attaches to.
//! A task whose run ended meanwhile is recorded with its exit status; one whose executor
//! died is failed (and what is left of it stopped).
//!
//! [`Registry`] is the face the rest of the daemon sees. Below it, each file has one job and
//! imports only from the files under it:
//!
//! - `sync`: the specs directory against the placed allocations, collection and tombstones;
//! - `supervisor`: one placed allocation and the threads that run, stop and record its tasks;
//! - [`executor`] (the process that owns a task's run, and how the agent speaks to it),
//!   `leftovers` (what is left of a run nobody saw end);
//! - [`tasks`] (one task as a process group), [`logmon`] (its rotating log files) and
//!   [`procstats`] (its resource usage, sampled from `/proc`);
//! - `env` (the `NOMAD_*` environment), `layout` (the alloc-dir layout) and `persist`
//!   (what the state store holds per allocation);
//! - `record` (records and client status) and `spec` (the spec schema), at the bottom.
//!
//! [`gc`] sits above the registry: it decides when terminal allocations are collected.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::store::StateStore;
use procstats::{TaskSample, TaskStats};
use supervisor::{Alloc, AllocsContext, Runner};
use sync::{Allocs, SpecFiles};
use tasks::TaskControl;

pub mod exec;
pub mod executor;
pub mod gc;
pub mod logindex;
pub mod logmon;
pub mod procstats;
pub mod tasks;

mod env;
mod layout;
mod leftovers;
mod persist;
mod record;
mod spec;
mod supervisor;
mod sync;
#[cfg(test)]
mod tests;

pub use record::{AllocRecord, ClientStatus, CollectError, LifecycleError, TaskRecord, TaskStatus};
pub use spec::{AllocSpec, LogConfig, TaskSpec};

/// How long a collection waits for the processes it has just SIGKILLed.
const COLLECT_WAIT: Duration = Duration::from_secs(5);

/// How long a starting agent waits, at most, to re-attach to the tasks that were running.
const REATTACH_WAIT: Duration = Duration::from_secs(30);

/// The allocations of this node, their directories, processes and persisted records.
pub struct Registry {
    specs_dir: PathBuf,
    shared: Arc<AllocsContext>,
    allocs: Mutex<Allocs>,
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
        let loaded = persist::load(&state)?;
        let restored: Vec<Arc<Alloc>> = loaded
            .records
            .into_iter()
            .map(|record| Arc::new(Alloc::restore(record)))
            .collect();
        let registry = Self {
            specs_dir: specs_dir.to_path_buf(),
            shared: Arc::new(AllocsContext {
                alloc_root,
                state,
                usage: TaskStats::start(stats_interval),
                shutting_down: AtomicBool::new(false),
                base_env: env::base_env(),
                // The unit tests' binary cannot serve as `caravan executor`.
                runner: if cfg!(test) {
                    Runner::InProcess
                } else {
                    Runner::Executors
                },
            }),
            allocs: Mutex::new(Allocs {
                placed: restored
                    .iter()
                    .map(|a| (a.spec.id.clone(), a.clone()))
                    .collect(),
                collected: loaded.collected,
                files: Default::default(),
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
        for alloc in &restored {
            alloc.start(&registry.shared, None);
        }
        // Until re-attached, a running task could not be signalled, restarted or stopped.
        let deadline = std::time::Instant::now() + REATTACH_WAIT;
        for task in restored.iter().flat_map(|a| &a.tasks) {
            task.wait_settled(deadline.saturating_duration_since(std::time::Instant::now()));
        }
        Ok(registry)
    }

    /// The specs directory this registry watches.
    pub fn specs_dir(&self) -> &Path {
        &self.specs_dir
    }

    fn allocs(&self) -> MutexGuard<'_, Allocs> {
        crate::util::lock(&self.allocs)
    }

    /// Bring the allocations in line with the spec files: place new ones, replace
    /// changed ones, stop those whose file is gone. Bad files are logged and skipped.
    pub fn reconcile(&self) {
        if self.shared.is_shutting_down() {
            return;
        }
        match SpecFiles::read(&self.specs_dir) {
            Ok(found) => self.allocs().reconcile(&self.shared, found),
            // Not "every spec is gone": nothing is stopped on a failed listing.
            Err(err) => tracing::error!("failed to read the specs dir: {err}"),
        }
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

    /// Restart one task of an allocation in place, or (`None`) every running one: its
    /// process group is stopped as a stop does, then it runs again, its restart counted.
    /// Returns once the interrupted runs are over.
    pub fn restart(&self, id: &str, task: Option<&str>) -> Result<(), LifecycleError> {
        let alloc = self.placed(id)?;
        alloc.restart(task)
    }

    /// Send a named signal (`SIGHUP`) to one task's process group, or every task's.
    pub fn signal(&self, id: &str, task: Option<&str>, signal: &str) -> Result<(), LifecycleError> {
        let alloc = self.placed(id)?;
        alloc.signal(task, signal)
    }

    /// Where a command run in a task goes (`alloc exec`), if the task runs.
    pub fn exec_target(&self, id: &str, task: &str) -> Result<exec::ExecTarget, LifecycleError> {
        let alloc = self.placed(id)?;
        alloc.exec_target(&self.shared, task)
    }

    fn placed(&self, id: &str) -> Result<Arc<Alloc>, LifecycleError> {
        self.allocs()
            .placed
            .get(id)
            .cloned()
            .ok_or(LifecycleError::NotFound)
    }

    /// Destroy a terminal allocation: kill what is left of its tasks (siblings of a failed
    /// task may still be stopping), remove its directory and its state. A live one is
    /// refused, so a core that skipped its own check still cannot destroy a workload.
    pub fn collect(&self, id: &str) -> Result<(), CollectError> {
        let alloc = self.allocs().collectable(id)?;
        for task in &alloc.tasks {
            task.kill();
        }
        if !alloc.tasks.iter().all(|t| t.wait_done(COLLECT_WAIT)) {
            return Err(CollectError::Failed(format!(
                "the tasks of allocation {id} did not exit"
            )));
        }
        self.allocs().forget(&self.shared, id, &alloc)
    }

    /// Prepare for the agent's exit: nothing is recorded any more, so that the next agent
    /// finds the states as they are now. Tasks keep running under their executors unless
    /// `stop_tasks` (a `-dev` agent's temporary data dir goes with it): then every task is
    /// stopped (SIGTERM, SIGKILL after each kill timeout). Tasks run in the agent's own
    /// process are always stopped.
    pub fn shutdown(&self, stop_tasks: bool) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        if !stop_tasks && self.shared.runner == Runner::Executors {
            return;
        }
        let allocs: Vec<Arc<Alloc>> = self.allocs().placed.values().cloned().collect();
        let stoppable: Vec<(&TaskControl, Duration)> =
            allocs.iter().flat_map(|a| a.stoppable()).collect();
        tasks::stop_all(&stoppable);
    }
}
