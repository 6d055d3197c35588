//! Running a task as a process, raw_exec-style: its command in its own process group, its
//! output pumped into rotating log files, and a stop that is SIGTERM to the whole group then
//! SIGKILL after the kill timeout.
//!
//! Signals go to the process group, never to a bare pid that might have been reused: the
//! group id is the leader's pid, and the leader is only reaped after its group has been
//! marked gone under the same lock a stop takes. So while a stop can see the group, the pid
//! still names our (possibly zombie) leader.
//!
//! The task gets SIGKILL if the thread that started it dies (`PR_SET_PDEATHSIG`): that
//! thread lives exactly as long as the task, so this only fires when the process running it
//! dies. That process is the task's executor (see `executor`), which outlives the agent; a
//! task without it has nobody reading its output. (Unit tests run tasks in their own process,
//! which cannot serve as an executor.)
//!
//! A task the agent reaches through its executor is controlled the same way: [`Leader`] is
//! either a process group of this process's own or an executor to ask.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use serde::{Deserialize, Serialize};

use super::executor::client::Client;
use super::record::Started;

use super::logmon::{self, Rotator};
use super::procstats;

/// How long a finished task's log pumps get to drain its pipes before it is reported dead.
/// They finish in microseconds unless a process that escaped the group still holds a pipe.
const PUMP_GRACE: Duration = Duration::from_secs(1);

/// What runs a task, to be signalled.
#[derive(Debug)]
pub enum Leader {
    /// A process group of this process (its id is the leader's pid).
    Group(Pid),
    /// A task run by an executor.
    Executor(Client),
}

/// What a stop, a kill or a signal sends.
#[derive(Clone, Copy)]
enum Order {
    Stop,
    Kill,
    Signal(Signal),
}

/// The shared handle through which a task is stopped and awaited.
#[derive(Debug, Default)]
pub struct TaskControl {
    slot: Mutex<Slot>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Slot {
    /// The leader while it is not reaped (or its executor, while it runs).
    leader: Option<Leader>,
    /// A stop was asked for: a task not started yet never starts.
    stop: bool,
    /// The task will not run again and its final state is recorded.
    done: bool,
    /// A restart was asked for: the run ends as a stop does, and the task runs again.
    restart: bool,
    /// How many runs have ended: a restart waits for the run it interrupted.
    runs: u64,
}

impl TaskControl {
    /// A control for a task that is yet to run.
    pub fn new() -> Self {
        Self::default()
    }

    /// A control for a task that is already over.
    pub fn finished() -> Self {
        let control = Self::default();
        control.lock().done = true;
        control
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        crate::util::lock(&self.slot)
    }

    /// Ask the task to stop: SIGTERM to its process group if it runs.
    pub fn request_stop(&self) {
        let mut slot = self.lock();
        slot.stop = true;
        send(slot.leader.as_ref(), Order::Stop);
    }

    /// Stop the task at once: SIGKILL to its process group if it runs.
    pub fn kill(&self) {
        let mut slot = self.lock();
        slot.stop = true;
        send(slot.leader.as_ref(), Order::Kill);
    }

    /// Send `signal` to the task's process group; false if it is not running.
    pub fn signal(&self, signal: Signal) -> bool {
        let slot = self.lock();
        if slot.leader.is_none() || slot.stop {
            return false;
        }
        send(slot.leader.as_ref(), Order::Signal(signal))
    }

    /// Start a run under the lock, so that a stop either comes first (and nothing starts:
    /// [`Outcome::NotStarted`]) or finds the leader `start` returns with what goes with it.
    pub(super) fn start_with<T>(
        &self,
        start: impl FnOnce() -> Result<(Leader, T), Outcome>,
    ) -> Result<T, Outcome> {
        let mut slot = self.lock();
        if slot.stop {
            return Err(Outcome::NotStarted);
        }
        let (leader, started) = start()?;
        slot.leader = Some(leader);
        drop(slot);
        self.changed.notify_all();
        Ok(started)
    }

    /// The task now runs under `leader` (an executor); a stop asked for meanwhile is sent.
    pub(super) fn attach(&self, leader: Leader) {
        let mut slot = self.lock();
        if slot.stop {
            send(Some(&leader), Order::Stop);
        }
        slot.leader = Some(leader);
        self.changed.notify_all();
    }

    /// Wait until the task runs (or its run, or the task, is over), at most `timeout`:
    /// a restarted agent answers requests about a task only once it controls it again.
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut slot = self.lock();
        while slot.leader.is_none() && slot.runs == 0 && !slot.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The executor's run is over: returns whether a stop or restart was asked for.
    pub(super) fn detach(&self) -> bool {
        let mut slot = self.lock();
        slot.leader = None;
        slot.stop || slot.restart
    }

    /// Count a run as over and wake those waiting for it.
    pub(super) fn run_over(&self) {
        self.lock().runs += 1;
        self.changed.notify_all();
    }

    /// Whether the task's process runs (and is not stopping).
    pub fn is_running(&self) -> bool {
        let slot = self.lock();
        slot.leader.is_some() && !slot.stop
    }

    /// Ask the running task to end this run and start again: SIGTERM to its process group.
    /// Returns the run it ends, or `None` if it is not running (or stopping).
    fn request_restart(&self) -> Option<u64> {
        let mut slot = self.lock();
        if slot.leader.is_none() || slot.stop {
            return None;
        }
        slot.restart = true;
        send(slot.leader.as_ref(), Order::Stop);
        Some(slot.runs)
    }

    /// Whether a restart was asked for (and no stop since); clears it.
    pub fn take_restart(&self) -> bool {
        let mut slot = self.lock();
        let restart = slot.restart && !slot.stop;
        slot.restart = false;
        restart
    }

    /// Wait until run `run` is over (or the task is), at most `timeout`.
    fn wait_run_over(&self, run: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut slot = self.lock();
        while slot.runs == run && !slot.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Whether the task is over and its final state recorded.
    pub fn is_done(&self) -> bool {
        self.lock().done
    }

    /// Wait until the task is over, at most `timeout`; returns whether it is.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut slot = self.lock();
        while !slot.done {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Mark the task over, once its final state is recorded, and wake the waiters.
    pub fn finish(&self) {
        self.lock().done = true;
        self.changed.notify_all();
    }
}

/// Send `order` to the task `leader` runs, if any; false if it was not delivered.
fn send(leader: Option<&Leader>, order: Order) -> bool {
    match (leader, order) {
        (None, _) => false,
        (Some(Leader::Group(pid)), order) => {
            let signal = match order {
                Order::Stop => Signal::TERM,
                Order::Kill => Signal::KILL,
                Order::Signal(signal) => signal,
            };
            signal_group(*pid, signal);
            true
        }
        (Some(Leader::Executor(client)), Order::Stop) => {
            client.stop();
            true
        }
        (Some(Leader::Executor(client)), Order::Kill) => {
            client.kill();
            true
        }
        (Some(Leader::Executor(client)), Order::Signal(signal)) => client.signal(signal),
    }
}

fn signal_group(leader: Pid, signal: Signal) {
    if let Err(err) = rustix::process::kill_process_group(leader, signal)
        && err != rustix::io::Errno::SRCH
    {
        tracing::warn!("failed to signal process group {leader:?}: {err}");
    }
}

/// Begin restarting a running task as Nomad does: SIGTERM to its process group now, and
/// its supervisor starts it again once the run is over. Returns the run it ends, for
/// [`finish_restart`]; `None` if the task is not running.
pub fn begin_restart(control: &TaskControl) -> Option<u64> {
    control.request_restart()
}

/// Wait for run `run` to end, SIGKILLing its group after `timeout`, as a stop does.
pub fn finish_restart(control: &TaskControl, run: u64, timeout: Duration) {
    if !control.wait_run_over(run, timeout) {
        send(control.lock().leader.as_ref(), Order::Kill);
        control.wait_run_over(run, Duration::from_secs(1));
    }
}

/// A signal by its name (`SIGHUP`), as Nomad's drivers take them.
pub fn signal_named(name: &str) -> Option<Signal> {
    Some(match name {
        "SIGABRT" | "SIGIOT" => Signal::ABORT,
        "SIGALRM" => Signal::ALARM,
        "SIGBUS" => Signal::BUS,
        "SIGCHLD" => Signal::CHILD,
        "SIGCONT" => Signal::CONT,
        "SIGFPE" => Signal::FPE,
        "SIGHUP" => Signal::HUP,
        "SIGILL" => Signal::ILL,
        "SIGINT" => Signal::INT,
        "SIGIO" => Signal::IO,
        "SIGKILL" => Signal::KILL,
        "SIGPIPE" => Signal::PIPE,
        "SIGPROF" => Signal::PROF,
        "SIGPWR" => Signal::POWER,
        "SIGQUIT" => Signal::QUIT,
        "SIGSEGV" => Signal::SEGV,
        "SIGSTKFLT" => Signal::STKFLT,
        "SIGSTOP" => Signal::STOP,
        "SIGSYS" => Signal::SYS,
        "SIGTERM" => Signal::TERM,
        "SIGTRAP" => Signal::TRAP,
        "SIGTSTP" => Signal::TSTP,
        "SIGTTIN" => Signal::TTIN,
        "SIGTTOU" => Signal::TTOU,
        "SIGURG" => Signal::URG,
        "SIGUSR1" => Signal::USR1,
        "SIGUSR2" => Signal::USR2,
        "SIGVTALRM" => Signal::VTALARM,
        "SIGWINCH" => Signal::WINCH,
        "SIGXCPU" => Signal::XCPU,
        "SIGXFSZ" => Signal::XFSZ,
        _ => return None,
    })
}

/// Stop a set of tasks as Nomad does: SIGTERM to each, then SIGKILL to those still running
/// after their kill timeout. Returns once every task is over (or has had a second after
/// SIGKILL, for a process stuck in the kernel).
pub fn stop_all(tasks: &[(&TaskControl, Duration)]) {
    let started = Instant::now();
    for (control, _) in tasks {
        control.request_stop();
    }
    for (control, timeout) in tasks {
        let left = (started + *timeout).saturating_duration_since(Instant::now());
        if !control.wait_done(left) {
            control.kill();
            control.wait_done(Duration::from_secs(1));
        }
    }
}

/// Where a task's output goes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogTarget {
    /// The allocation's `alloc/logs` directory.
    pub dir: PathBuf,
    /// Where the arrival-time indexes go: the task's `private/logindex` (`logindex`).
    pub index_dir: PathBuf,
    /// The task's name, which names its log files.
    pub task: String,
    /// Rotated files kept per stream.
    pub max_files: u32,
    /// Bytes.
    pub max_file_size: u64,
}

/// Everything needed to start a task's process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Launch {
    /// Names the task in the agent's log.
    pub label: String,
    /// The program to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The whole environment: nothing else is inherited.
    pub env: BTreeMap<String, String>,
    /// The working directory (the task directory).
    pub dir: PathBuf,
    /// `None` when logging is disabled: output is discarded.
    pub logs: Option<LogTarget>,
}

/// How a run of a task ended (as an executor records it, too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A stop came before the task started.
    NotStarted,
    /// The process could not be started.
    StartFailed(String),
    /// The leader exited.
    Exited {
        /// The exit code, when it exited.
        code: Option<i32>,
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        /// It was asked to stop.
        stopped: bool,
    },
    /// Its executor died, or cannot be spoken to, without recording the run's end.
    Lost(String),
}

/// Run the task to completion on the calling thread, which must live until this returns
/// (the task's parent-death signal is tied to it). `on_start` is called once the process runs.
pub fn run(control: &TaskControl, launch: &Launch, on_start: impl FnOnce(Started)) -> Outcome {
    let rotators = match &launch.logs {
        None => None,
        Some(logs) => {
            let open = |stream: &str| {
                Rotator::open(
                    &logs.dir,
                    &logs.index_dir,
                    &format!("{}.{stream}", logs.task),
                    logs.max_files,
                    logs.max_file_size,
                )
            };
            match open("stdout").and_then(|out| Ok((out, open("stderr")?))) {
                Ok(pair) => Some(pair),
                Err(err) => {
                    return Outcome::StartFailed(format!("failed to open log files: {err}"));
                }
            }
        }
    };
    let output = || {
        if rotators.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let mut command = Command::new(&launch.command);
    command
        .args(&launch.args)
        .env_clear()
        .envs(&launch.env)
        .current_dir(&launch.dir)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes system calls that are
    // async-signal-safe (prctl, sigaction); it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(child_defaults);
    }

    let mut slot = control.lock();
    if slot.stop {
        return Outcome::NotStarted;
    }
    // Spawned under the lock, so that a stop either comes first (and nothing starts) or
    // finds the leader to signal.
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Outcome::StartFailed(format!("failed to start {:?}: {err}", launch.command));
        }
    };
    let pid = Pid::from_child(&child);
    slot.leader = Some(Leader::Group(pid));
    drop(slot);
    control.changed.notify_all();

    let start_ticks = procstats::read_stat(child.id()).map_or(0, |s| s.start_ticks);
    on_start(Started {
        pid: child.id(),
        start_ticks,
    });

    let (pumped_tx, pumped_rx) = std::sync::mpsc::channel();
    let mut pumps = 0;
    if let Some((out, err)) = rotators {
        let label = &launch.label;
        if let Some(stdout) = child.stdout.take() {
            pumps += spawn_pump(stdout, out, format!("{label} (stdout)"), pumped_tx.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            pumps += spawn_pump(stderr, err, format!("{label} (stderr)"), pumped_tx);
        }
    }

    wait_for_leader(pid);
    let mut slot = control.lock();
    // What the leader leaves behind in its group goes with it, as Nomad's cgroups see to.
    send(slot.leader.take().as_ref(), Order::Kill);
    // A restart ends the run as a stop does: not a failure.
    let stopped = slot.stop || slot.restart;
    drop(slot);
    let status = child.wait();
    let grace = Instant::now() + PUMP_GRACE;
    for _ in 0..pumps {
        let left = grace.saturating_duration_since(Instant::now());
        if pumped_rx.recv_timeout(left).is_err() {
            tracing::warn!(
                "{}: output still open after exit (a process left its group)",
                launch.label
            );
            break;
        }
    }
    control.run_over();
    match status {
        Ok(status) => Outcome::Exited {
            code: status.code(),
            signal: status.signal(),
            stopped,
        },
        Err(err) => {
            tracing::error!("{}: failed to collect the exit status: {err}", launch.label);
            Outcome::Exited {
                code: None,
                signal: None,
                stopped,
            }
        }
    }
}

/// Block until the leader has exited, leaving it unreaped (a zombie keeps its pid, and so
/// the process group id, from being reused).
pub(super) fn wait_for_leader(pid: Pid) {
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => return,
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => {
                tracing::error!("failed to wait for process {pid:?}: {err}");
                return;
            }
        }
    }
}

/// Pump `source` into `rotator` on a thread of its own; returns how many threads started
/// (0 or 1). Each sends on `done` when its stream ends.
fn spawn_pump(
    source: impl io::Read + Send + 'static,
    mut rotator: Rotator,
    what: String,
    done: std::sync::mpsc::Sender<()>,
) -> usize {
    let spawned = std::thread::Builder::new()
        .name("log-pump".into())
        .spawn(move || {
            logmon::pump(source, &mut rotator, &what);
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => 1,
        Err(err) => {
            // The pipe closes with the closure: the task sees EPIPE rather than blocking.
            tracing::error!("failed to start a log pump: {err}");
            0
        }
    }
}

/// In a task's (or an exec session's) process, between fork and exec: die with the process
/// that started it (the task's executor, the agent for an exec session), and start with default signal handling whatever the agent inherited. An agent run under
/// nohup ignores SIGHUP, an ignored signal stays ignored across exec, and a shell may not even
/// trap it then, so `alloc signal -s SIGHUP` would never reach the task.
///
/// Only async-signal-safe system calls (prctl, signal): it allocates nothing, takes no lock.
pub(super) fn child_defaults() -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(io::Error::from)?;
    for signal in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
    ] {
        // SAFETY: resetting a disposition to the default is async-signal-safe.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    Ok(())
}

#[cfg(test)]
mod tests;
