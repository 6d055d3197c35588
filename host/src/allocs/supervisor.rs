//! One placed allocation and its threads: a supervisor per task runs it (re-attaching to
//! the executor of a run a previous agent started, or stopping the leftovers of a run
//! nobody saw end), records each change of state before anyone can observe it, and stops
//! the siblings of a failed task, as Nomad does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::executor::{self, Job};
use super::procstats::TaskStats;
use super::record::{AllocRecord, ExecutorRef, LifecycleError, Started, TaskStatus, client_status};
use super::spec::AllocSpec;
use super::tasks::{self, Launch, LogTarget, Outcome, TaskControl};
use super::{env, layout, leftovers, persist};
use crate::store::StateStore;

/// How long a restart request waits for the runs it ends (below the core's call deadline).
const RESTART_WAIT: Duration = Duration::from_secs(20);

/// What the agent gives every allocation's threads: where allocations live, the state
/// store, the usage sampler, the shutdown flag, the base environment and where tasks run.
pub(super) struct AllocsContext {
    pub alloc_root: PathBuf,
    pub state: Arc<StateStore>,
    pub usage: TaskStats,
    /// Set when the agent shuts down: tasks are stopped then, but their state is left as
    /// it was, so the next agent starts them again.
    pub shutting_down: AtomicBool,
    /// The agent's environment without the denylist: raw_exec tasks inherit the host's.
    pub base_env: BTreeMap<String, String>,
    pub runner: Runner,
}

/// Where tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Runner {
    /// Each under an executor process of its own: tasks outlive the agent.
    Executors,
    /// In the agent's own process (unit tests: their binary cannot be an executor).
    InProcess,
}

impl AllocsContext {
    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// One placed allocation: its spec, its live record and one control per task.
pub(super) struct Alloc {
    pub spec: AllocSpec,
    live: Mutex<Live>,
    pub tasks: Vec<Arc<TaskControl>>,
}

pub(super) struct Live {
    pub record: AllocRecord,
    /// Its spec is gone or replaced, or a task failed: no task starts any more.
    pub stopping: bool,
    /// A newer placement of the same id, or a collection, owns the persisted state now.
    pub detached: bool,
    /// Its spec file was there at the last reconciliation.
    pub in_specs: bool,
}

impl Alloc {
    /// Create Nomad's alloc-dir layout for a spec and persist a fresh record for it.
    pub(super) fn place(shared: &AllocsContext, spec: &AllocSpec) -> Result<Arc<Self>> {
        layout::create(&layout::alloc_dir(&shared.alloc_root, &spec.id), spec)?;
        let record = AllocRecord::pending(spec);
        persist::persist(&shared.state, &record);
        Ok(Arc::new(Self {
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

    /// An allocation as the state store remembers it: tasks that were not dead will run
    /// again (unless it is stopped before [`Alloc::start`]).
    pub(super) fn restore(record: AllocRecord) -> Self {
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

    pub(super) fn live(&self) -> MutexGuard<'_, Live> {
        crate::util::lock(&self.live)
    }

    /// Start a supervisor thread for each task not over yet. With `previous` (the
    /// allocation this one replaces), tasks start only once all of its tasks are over.
    pub(super) fn start(
        self: &Arc<Self>,
        shared: &Arc<AllocsContext>,
        previous: Option<Arc<Alloc>>,
    ) {
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
    pub(super) fn stop(self: &Arc<Self>, shared: &Arc<AllocsContext>) {
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
    fn update(
        &self,
        shared: &AllocsContext,
        live: &mut Live,
        change: impl FnOnce(&mut AllocRecord),
    ) {
        if shared.is_shutting_down() {
            return;
        }
        change(&mut live.record);
        let status = client_status(&live.record.tasks, live.stopping);
        if status != live.record.client_status {
            tracing::info!("allocation {} is {}", self.spec.id, status.name());
            live.record.client_status = status;
        }
        if !live.detached {
            persist::persist(&shared.state, &live.record);
        }
    }

    /// One task's whole life, on its own thread.
    fn supervise(
        self: &Arc<Self>,
        shared: &Arc<AllocsContext>,
        index: usize,
        previous: Option<&Alloc>,
    ) {
        if let Some(previous) = previous {
            for task in &previous.tasks {
                while !task.wait_done(Duration::from_secs(60)) {}
            }
        }
        let spec = &self.spec.tasks[index];
        let id = &self.spec.id;
        let (run, executor) = self.recorded(index);
        let mut resume = executor.is_some() && shared.runner == Runner::Executors;
        if let Some((pid, start_ticks)) = run
            && !resume
        {
            let markers = env::run_markers(&self.spec, index);
            let found = leftovers::stop_leftovers(pid, start_ticks, &markers, spec.kill_timeout());
            if found > 0 {
                tracing::info!(
                    "allocation {id}: stopped {found} leftover process(es) of task {}",
                    spec.name
                );
            }
        }
        let outcome = loop {
            let outcome = self.run_once(shared, index, std::mem::take(&mut resume));
            if !self.tasks[index].take_restart() || shared.is_shutting_down() {
                break outcome;
            }
            // Restarted in place: counted, and run again (a stop since then ends the
            // next run before it starts).
            tracing::info!("{}: restarting", task_label(&self.spec, index));
            let mut live = self.live();
            self.update(shared, &mut live, |record| {
                let task = &mut record.tasks[index];
                task.restarts = task.restarts.saturating_add(1);
                task.last_restart = Some(SystemTime::now());
                if let Outcome::Exited { code, signal, .. } = &outcome {
                    task.exit_code = *code;
                    task.signal = *signal;
                }
            });
        };
        self.finish_task(shared, index, &outcome);
    }

    /// The recorded run of task `index` (leader pid and start time) and its executor.
    fn recorded(&self, index: usize) -> (Option<(u32, u64)>, Option<ExecutorRef>) {
        let live = self.live();
        let task = &live.record.tasks[index];
        (task.pid.zip(task.start_ticks), task.executor)
    }

    /// One run of task `index`, from its start (or, with `resume`, from re-attaching to the
    /// executor that runs it) to its leader's exit.
    fn run_once(
        self: &Arc<Self>,
        shared: &Arc<AllocsContext>,
        index: usize,
        resume: bool,
    ) -> Outcome {
        let spec = &self.spec.tasks[index];
        let id = &self.spec.id;
        let launch = self.launch(shared, index);
        let on_start = |started: Started, executor: Option<ExecutorRef>| {
            match (&executor, resume) {
                (Some(e), true) => tracing::info!(
                    "{}: re-attached to its executor (pid {}), task pid {}",
                    launch.label,
                    e.pid,
                    started.pid
                ),
                (Some(e), false) => tracing::info!(
                    "{}: started (pid {}, executor pid {})",
                    launch.label,
                    started.pid,
                    e.pid
                ),
                (None, _) => tracing::info!("{}: started (pid {})", launch.label, started.pid),
            }
            shared.usage.track(id, &spec.name, started.pid);
            let mut live = self.live();
            self.update(shared, &mut live, |record| {
                let task = &mut record.tasks[index];
                task.state = TaskStatus::Running;
                if !resume || task.started_at.is_none() {
                    task.started_at = Some(SystemTime::now());
                }
                task.finished_at = None;
                task.pid = Some(started.pid);
                task.start_ticks = Some(started.start_ticks);
                task.executor = executor;
            });
        };
        let control = &self.tasks[index];
        let outcome = match shared.runner {
            Runner::InProcess => tasks::run(control, &launch, |started| on_start(started, None)),
            Runner::Executors => {
                let dir = executor::dir(&launch.dir);
                let job = Job {
                    launch: launch.clone(),
                    kill_timeout: spec.kill_timeout(),
                };
                let job = (!resume).then_some(&job);
                let label = &launch.label;
                executor::run(control, &dir, label, job, |s, e| on_start(s, Some(e)))
            }
        };
        shared.usage.untrack(id, &spec.name);
        if let Outcome::Lost(_) = outcome {
            self.clean_up_lost(index);
        }
        outcome
    }

    /// A run whose executor died (or that this agent cannot speak to): kill the executor if
    /// it is still there, and stop what is left of the task's process group.
    fn clean_up_lost(&self, index: usize) {
        let (run, executor) = self.recorded(index);
        if let Some(executor) = executor {
            executor::kill_executor(&executor);
        }
        if let Some((pid, start_ticks)) = run {
            let markers = env::run_markers(&self.spec, index);
            let timeout = self.spec.tasks[index].kill_timeout();
            leftovers::stop_leftovers(pid, start_ticks, &markers, timeout);
        }
    }

    /// Restart one task or every running one in place. Returns once the interrupted runs
    /// are over, or after [`RESTART_WAIT`] (a task with a long kill timeout that ignores
    /// SIGTERM): the restart goes on, its SIGKILL and new run come all the same.
    pub(super) fn restart(&self, task: Option<&str>) -> Result<(), LifecycleError> {
        let targets = self.targets(task)?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut waiting = 0;
        for i in targets {
            let control = self.tasks[i].clone();
            let Some(run) = tasks::begin_restart(&control) else {
                if task.is_some() {
                    return Err(LifecycleError::NotRunning);
                }
                // For all tasks, those not running are left alone, as Nomad does.
                continue;
            };
            let timeout = self.spec.tasks[i].kill_timeout();
            let done = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name("task-restart".into())
                .spawn(move || {
                    tasks::finish_restart(&control, run, timeout);
                    let _ = done.send(());
                });
            match spawned {
                Ok(_) => waiting += 1,
                Err(err) => {
                    return Err(LifecycleError::Failed(format!(
                        "no thread to restart the task: {err}"
                    )));
                }
            }
        }
        let deadline = std::time::Instant::now() + RESTART_WAIT;
        for _ in 0..waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Send `signal` to one task or every task; not running (for all: any not running,
    /// the running ones signalled all the same) is an error.
    pub(super) fn signal(&self, task: Option<&str>, signal: &str) -> Result<(), LifecycleError> {
        let signal = tasks::signal_named(signal).ok_or(LifecycleError::UnknownSignal)?;
        let targets = self.targets(task)?;
        let mut all = true;
        for i in targets {
            all &= self.tasks[i].signal(signal);
        }
        if all {
            Ok(())
        } else {
            Err(LifecycleError::NotRunning)
        }
    }

    /// Where a command run in task `name` runs (`alloc exec`): the task's environment and
    /// working directory, if the task runs.
    pub(super) fn exec_target(
        &self,
        shared: &AllocsContext,
        name: &str,
    ) -> Result<super::exec::ExecTarget, LifecycleError> {
        let index = self.targets(Some(name))?[0];
        if !self.tasks[index].is_running() {
            return Err(LifecycleError::NotRunning);
        }
        let launch = self.launch(shared, index);
        Ok(super::exec::ExecTarget {
            label: format!("{} (exec)", launch.label),
            env: launch.env,
            dir: launch.dir,
        })
    }

    /// The tasks a lifecycle request names, if the allocation still runs.
    fn targets(&self, task: Option<&str>) -> Result<Vec<usize>, LifecycleError> {
        let indices: Vec<usize> = match task {
            Some(name) => vec![
                self.spec
                    .tasks
                    .iter()
                    .position(|t| t.name == name)
                    .ok_or(LifecycleError::UnknownTask)?,
            ],
            None => (0..self.tasks.len()).collect(),
        };
        let live = self.live();
        if live.stopping || live.record.client_status.is_terminal() {
            return Err(LifecycleError::Terminal);
        }
        Ok(indices)
    }

    /// Record how a task ended, stop its siblings if it failed (as Nomad does), and mark
    /// it over.
    fn finish_task(self: &Arc<Self>, shared: &Arc<AllocsContext>, index: usize, outcome: &Outcome) {
        let label = task_label(&self.spec, index);
        let failed = match outcome {
            Outcome::NotStarted => false,
            Outcome::StartFailed(message) => {
                tracing::error!("{label}: {message}");
                true
            }
            Outcome::Lost(message) => {
                tracing::error!("{label}: {message}; the task is failed");
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
                let now = SystemTime::now();
                task.finished_at = Some(now);
                if let Outcome::Exited { code, signal, .. } = outcome {
                    task.exit_code = *code;
                    task.signal = *signal;
                    // It ran, even if it ended before its executor could tell the agent
                    // it had started (a task as short as `echo done`).
                    task.started_at.get_or_insert(now);
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
    pub(super) fn stoppable(&self) -> Vec<(&TaskControl, Duration)> {
        self.tasks
            .iter()
            .zip(&self.spec.tasks)
            .map(|(control, spec)| (&**control, spec.kill_timeout()))
            .collect()
    }

    /// The process to start for task `index`: Nomad's task environment, the task dir as
    /// working directory, logs per its `LogConfig`.
    fn launch(&self, shared: &AllocsContext, index: usize) -> Launch {
        let spec = &self.spec;
        let task = &spec.tasks[index];
        let alloc_dir = layout::alloc_dir(&shared.alloc_root, &spec.id);
        let logs = (!task.log_config.disabled).then(|| LogTarget {
            dir: layout::logs_dir(&alloc_dir),
            index_dir: layout::log_index_dir(&layout::task_dir(&alloc_dir, &task.name)),
            task: task.name.clone(),
            max_files: task.log_config.max_files,
            max_file_size: u64::from(task.log_config.max_file_size_mb) * 1024 * 1024,
        });
        Launch {
            label: task_label(spec, index),
            command: task.command.clone(),
            args: task.args.clone(),
            env: env::task_env(&shared.base_env, &alloc_dir, spec, index),
            dir: layout::task_dir(&alloc_dir, &task.name),
            logs,
        }
    }
}

fn task_label(spec: &AllocSpec, index: usize) -> String {
    format!("allocation {} task {}", spec.id, spec.tasks[index].name)
}
