//! Resource usage of running tasks, sampled in the background like Nomad's executor stats.
//!
//! A task is a process tree: the process caravan started (the leader, in its own process
//! group) and whatever it forks. Each interval the sampler reads `/proc` once, finds every
//! tracked task's tree (its process group, plus descendants of the leader that left the
//! group) and records per process RSS, swap and CPU. CPU percentages are the change in CPU
//! time over the change in wall time since the previous sample of the same process, so the
//! first sample of a process reads 0, as Nomad's does. Handlers read the latest sample; a
//! request never walks `/proc`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The usage of one process of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSample {
    /// The process id.
    pub pid: u32,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Swapped-out memory, bytes.
    pub swap: u64,
    /// CPU use in percent of one core (user + system).
    pub cpu_percent: f64,
    /// User-mode CPU use in percent of one core.
    pub user_mode: f64,
    /// Kernel-mode CPU use in percent of one core.
    pub system_mode: f64,
    /// CPU use in MHz, Nomad's unit of CPU capacity.
    pub total_ticks: f64,
}

/// The latest sample of one running task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSample {
    /// The task's name.
    pub task: String,
    /// Each process of the task's tree.
    pub processes: Vec<ProcessSample>,
    /// When the sample was taken.
    pub taken_at: SystemTime,
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcStat {
    /// The process id.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its process group.
    pub pgrp: u32,
    /// Exited, not yet reaped by its parent.
    pub zombie: bool,
    /// CPU time in user mode, in clock ticks.
    pub utime: u64,
    /// CPU time in kernel mode, in clock ticks.
    pub stime: u64,
    /// When the process started, in clock ticks since boot: with the pid, it names one
    /// process for good, since pids are reused.
    pub start_ticks: u64,
}

/// Parse the text of `/proc/<pid>/stat`. The command name is in parentheses and may hold
/// spaces and parentheses itself, so the fields are counted from the last `)`.
pub fn parse_stat(pid: u32, text: &str) -> Option<ProcStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_ascii_whitespace().collect();
    // Field 3 of proc(5) (the state) is fields[0] here.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        pgrp: u32::try_from(field(5)?).ok()?,
        zombie: *fields.first()? == "Z",
        utime: field(14)?,
        stime: field(15)?,
        start_ticks: field(22)?,
    })
}

/// `/proc/<pid>/stat` of one process, if it exists.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// Every process on the host (those that vanish while being read are skipped).
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// The processes of the task led by `leader`: its process group, and descendants of the
/// leader that moved to another group.
pub fn task_tree(leader: u32, processes: &[ProcStat]) -> Vec<ProcStat> {
    let mut members: HashSet<u32> = processes
        .iter()
        .filter(|p| p.pgrp == leader || p.pid == leader)
        .map(|p| p.pid)
        .collect();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in processes {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut queue: Vec<u32> = members.iter().copied().collect();
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if members.insert(child) {
                queue.push(child);
            }
        }
    }
    let mut tree: Vec<ProcStat> = processes
        .iter()
        .filter(|p| members.contains(&p.pid))
        .copied()
        .collect();
    tree.sort_by_key(|p| p.pid);
    tree
}

/// `VmRSS` and `VmSwap` of `/proc/<pid>/status`, in bytes (0 when absent, as for zombies).
fn memory(pid: u32) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0, 0);
    };
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |v| v * 1024)
    };
    (kib("VmRSS:"), kib("VmSwap:"))
}

/// Handle on the background task sampler; dropping it stops the thread.
#[derive(Debug)]
pub struct TaskStats {
    shared: Arc<TaskSampling>,
}

/// What the handle and the sampler thread share: the tasks to sample and their latest
/// samples, and the condvar that wakes the thread when a task starts or the handle drops.
#[derive(Debug, Default)]
struct TaskSampling {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Running tasks: (alloc id, task name) → leader pid.
    tracked: BTreeMap<(String, String), u32>,
    /// The latest sample per allocation, only of tasks still tracked.
    latest: HashMap<String, Vec<TaskSample>>,
    stop: bool,
}

fn lock(shared: &TaskSampling) -> MutexGuard<'_, State> {
    crate::util::lock(&shared.state)
}

impl TaskStats {
    /// Start sampling every `interval` (at least 10 ms).
    pub fn start(interval: Duration) -> Self {
        let shared = Arc::new(TaskSampling::default());
        let thread_shared = shared.clone();
        let interval = interval.max(Duration::from_millis(10));
        let spawned = std::thread::Builder::new()
            .name("task-stats".into())
            .spawn(move || run(&thread_shared, interval));
        if let Err(err) = spawned {
            // The stats endpoint then reports no usage; tasks still run.
            tracing::error!("failed to start the task stats sampler: {err}");
        }
        Self { shared }
    }

    /// Sample the tree led by `leader` as task `task` of allocation `alloc`.
    pub fn track(&self, alloc: &str, task: &str, leader: u32) {
        lock(&self.shared)
            .tracked
            .insert((alloc.to_owned(), task.to_owned()), leader);
        self.shared.wake.notify_all();
    }

    /// Stop sampling a task and forget its sample: only running tasks are reported.
    pub fn untrack(&self, alloc: &str, task: &str) {
        let mut state = lock(&self.shared);
        state.tracked.remove(&(alloc.to_owned(), task.to_owned()));
        if let Some(tasks) = state.latest.get_mut(alloc) {
            tasks.retain(|t| t.task != task);
        }
    }

    /// The latest samples of the running tasks of `alloc`.
    pub fn allocation(&self, alloc: &str) -> Vec<TaskSample> {
        lock(&self.shared)
            .latest
            .get(alloc)
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for TaskStats {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.wake.notify_all();
    }
}

fn run(shared: &TaskSampling, interval: Duration) {
    let mut sampler = Sampler::new();
    let mut state = lock(shared);
    loop {
        if state.stop {
            return;
        }
        if state.tracked.is_empty() {
            // Nothing to sample: sleep until a task starts.
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let tracked = state.tracked.clone();
        drop(state);
        let samples = sampler.sample(&tracked);
        state = lock(shared);
        // A task may have stopped while /proc was read: publish only what is still tracked.
        state.latest.clear();
        for ((alloc, task), sample) in samples {
            if state.tracked.contains_key(&(alloc.clone(), task)) {
                state.latest.entry(alloc).or_default().push(sample);
            }
        }
        let deadline = Instant::now() + interval;
        while !state.stop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The previous CPU reading of each process, to turn cumulative times into rates.
struct Sampler {
    ticks_per_second: f64,
    mhz_per_core: f64,
    /// (pid, start ticks) → (user ticks, system ticks, when read).
    previous: HashMap<(u32, u64), (u64, u64, Instant)>,
}

impl Sampler {
    fn new() -> Self {
        Self {
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            mhz_per_core: mhz_per_core(),
            previous: HashMap::new(),
        }
    }

    fn sample(
        &mut self,
        tracked: &BTreeMap<(String, String), u32>,
    ) -> Vec<((String, String), TaskSample)> {
        let processes = all_processes();
        let now = Instant::now();
        let taken_at = SystemTime::now();
        let mut current = HashMap::new();
        let mut out = Vec::with_capacity(tracked.len());
        for (key, &leader) in tracked {
            let samples = task_tree(leader, &processes)
                .into_iter()
                .map(|p| {
                    let id = (p.pid, p.start_ticks);
                    current.insert(id, (p.utime, p.stime, now));
                    self.process(&p, now)
                })
                .collect();
            out.push((
                key.clone(),
                TaskSample {
                    task: key.1.clone(),
                    processes: samples,
                    taken_at,
                },
            ));
        }
        // Replacing the map forgets processes that are gone.
        self.previous = current;
        out
    }

    fn process(&self, p: &ProcStat, now: Instant) -> ProcessSample {
        let (rss, swap) = memory(p.pid);
        let (user_mode, system_mode) = match self.previous.get(&(p.pid, p.start_ticks)) {
            Some(&(utime, stime, then)) => {
                let wall = now.duration_since(then).as_secs_f64();
                let rate = |now_ticks: u64, then_ticks: u64| {
                    let seconds =
                        now_ticks.saturating_sub(then_ticks) as f64 / self.ticks_per_second;
                    let percent = seconds / wall * 100.0;
                    if percent.is_finite() { percent } else { 0.0 }
                };
                (rate(p.utime, utime), rate(p.stime, stime))
            }
            None => (0.0, 0.0),
        };
        let cpu_percent = user_mode + system_mode;
        ProcessSample {
            pid: p.pid,
            rss,
            swap,
            cpu_percent,
            user_mode,
            system_mode,
            total_ticks: cpu_percent / 100.0 * self.mhz_per_core,
        }
    }
}

/// The average CPU frequency, as the host stats use it for `TotalTicks`; 0 if unknown.
fn mhz_per_core() -> f64 {
    let Ok(mut system) = sysinfo::System::new() else {
        return 0.0;
    };
    system.refresh_cpu_specifics(sysinfo::CpuRefreshKind::nothing().with_frequency());
    let cpus = system.cpus();
    let avg = cpus.iter().map(|c| c.frequency() as f64).sum::<f64>() / cpus.len() as f64;
    if avg.is_finite() { avg } else { 0.0 }
}

#[cfg(test)]
mod tests;
