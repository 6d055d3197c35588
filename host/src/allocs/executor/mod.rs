//! Tasks that outlive the agent: each run of a task is owned by a `caravan executor`
//! process of its own, not by the agent. The executor runs the task ([`tasks::run`], the same
//! code an in-process run uses), pumps its output into the log files, and records how the
//! run ended in a file; it is in a session of its own and is never the agent's child, so a
//! signal to the agent (or its process group), or the agent's death, does not reach it.
//!
//! The agent reaches an executor through a Unix socket in the task's `private/executor/`
//! directory (0700), one request line and one answer line per request, and remembers the
//! executor in the task's record, so a restarted agent re-attaches to it:
//!
//! - `hello` → `caravan-executor <protocol> <executor pid> <task pid> <task start ticks>`;
//! - `signal <number>` → `ok` or `not-running`;
//! - `stop` (SIGTERM to the task's group, and the run counts as stopped) and `kill`
//!   (SIGKILL) → `ok`;
//! - `counters` → `counters <stdout bytes> <stderr bytes> <dropped bytes>`: written to the
//!   logs so far (the agent's `logmon.bytes_written` metric adds them up), and dropped
//!   because they could not be written (the agent says so in its log).
//!
//! An executor never closes a connection: the agent keeps one open per running task (asking
//! for `counters` on it every few seconds), and its end means the executor has exited, once
//! the run's outcome is in the `exit` file. A connection that ends without an `exit` file is
//! an executor that died (SIGKILL, OOM): its task is failed.
//!
//! [`PROTOCOL`] is that contract's version. A newer agent keeps speaking every older
//! version, so an upgraded agent adopts what an older one started; an executor speaking a
//! version the agent does not know (after a downgrade) is stopped, never left unsupervised.
//!
//! [`tasks::run`]: super::tasks::run

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use super::record::{ExecutorRef, Started};
use super::tasks::{Launch, Leader, Outcome, TaskControl};

pub mod client;

pub mod server;

use client::{ANSWER_TIMEOUT, Client, Hello, SOCKET, socket_path};

/// The version of the protocol between the agent and its executors (requests, answers and
/// the `launch` and `exit` files).
pub const PROTOCOL: u32 = 1;

/// How often the agent asks a running task's executor how much it has logged.
const COUNTERS_EVERY: Duration = Duration::from_secs(2);

const LAUNCH_FILE: &str = "launch";
const EXIT_FILE: &str = "exit";
const LOG_FILE: &str = "executor.log";

/// What an executor is given: the task's process, and how long it gets to stop when the
/// executor must stop it on its own (its directory is gone).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// The task's process.
    pub launch: Launch,
    /// How long the task gets between SIGTERM and SIGKILL.
    pub kill_timeout: Duration,
}

/// What an executor's `counters` answer says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    stdout: u64,
    stderr: u64,
    dropped: u64,
}

/// Keep `stream` (an executor's connection) until it ends, asking for `counters` every
/// [`COUNTERS_EVERY`]: what was logged since goes to the agent's metrics, and output
/// dropped (a full disk) to its log, once per stretch of failures.
fn watch_until_exit(stream: &UnixStream, label: &str) {
    let metric = &crate::metrics::global().log_bytes_written;
    let mut counted = Counters::default();
    let mut dropping = false;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let mut asked = false;
    loop {
        let wait = if asked {
            ANSWER_TIMEOUT
        } else {
            COUNTERS_EVERY
        };
        if stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match (&*stream).read(&mut byte) {
            // The executor exited (or died).
            Ok(0) => return,
            Ok(_) if byte[0] != b'\n' => line.push(byte[0]),
            Ok(_) => {
                if let Some(now) = parse_counters(&line) {
                    metric.add(&["stdout"], now.stdout.saturating_sub(counted.stdout));
                    metric.add(&["stderr"], now.stderr.saturating_sub(counted.stderr));
                    let dropped = now.dropped > counted.dropped;
                    if dropped && !dropping {
                        tracing::error!(
                            "{label}: failed to write the log of the task, dropping output \
                             (see its executor's log)"
                        );
                    }
                    dropping = dropped;
                    counted = now;
                }
                line.clear();
                asked = false;
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if !asked {
                    asked = (&*stream).write_all(b"counters\n").is_ok();
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn parse_counters(line: &[u8]) -> Option<Counters> {
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.strip_prefix("counters ")?.split(' ');
    let mut next = || words.next()?.parse().ok();
    Some(Counters {
        stdout: next()?,
        stderr: next()?,
        dropped: next()?,
    })
}

/// A task's executor directory, in its `private` dir (never served by `fs`).
pub fn dir(task_dir: &Path) -> PathBuf {
    task_dir.join("private/executor")
}

/// How the run ended, if its executor recorded it.
fn read_exit(dir: &Path) -> Option<Outcome> {
    let data = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    match serde_json::from_slice(&data) {
        Ok(outcome) => Some(outcome),
        Err(err) => {
            tracing::warn!("unreadable {}: {err}", dir.join(EXIT_FILE).display());
            None
        }
    }
}

/// Start an executor for `job` in `dir`, and return once its task runs (or has failed to
/// start). The executor forks away from its starter, so the agent is never its parent.
fn spawn(dir: &Path, job: &Job) -> Result<Hello, Outcome> {
    let failed = |what: &str, err: &dyn std::fmt::Display| {
        Outcome::StartFailed(format!("failed to {what} for the executor: {err}"))
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("create its directory", &e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| failed("set its directory's mode", &e))?;
    for stale in [EXIT_FILE, SOCKET] {
        match std::fs::remove_file(dir.join(stale)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                return Err(failed("remove a stale file", &err));
            }
            _ => {}
        }
    }
    let launch = serde_json::to_vec(job).map_err(|e| failed("describe the task", &e))?;
    crate::util::fs::write_atomic_private(&dir.join(LAUNCH_FILE), &launch)
        .map_err(|e| failed("write the launch file", &format!("{e:#}")))?;
    // The running agent's own binary, even if an upgrade has replaced the file since: an
    // executor speaks the protocol of the agent that starts it.
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("caravan")
        .arg("executor")
        .arg(dir)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // The executor, hence the task, gets the open-files limit the agent was started with.
    let open_files = crate::util::open_files::inherited();
    // SAFETY: setsid and setrlimit are async-signal-safe; the closure allocates nothing and
    // takes no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            crate::util::open_files::restore_in_child(open_files);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| failed("start a process", &e))?;
    let mut complaint = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut complaint);
    }
    let status = child.wait().map_err(|e| failed("wait", &e))?;
    if !status.success() {
        return Err(Outcome::StartFailed(format!(
            "the executor did not start ({status}): {}",
            complaint.trim()
        )));
    }
    Client::new(dir).hello().map_err(|err| ended(dir, &err))
}

/// The outcome of a run whose executor cannot be reached: what its `exit` file says, or
/// that it died without saying.
fn ended(dir: &Path, err: &dyn std::fmt::Display) -> Outcome {
    read_exit(dir).unwrap_or_else(|| Outcome::Lost(format!("its executor is gone ({err})")))
}

/// Run the task under an executor, from start (`job`) or by re-attaching to the executor
/// already running it (`None`), until the run is over; `label` names the task in the log.
/// `on_start` gets the task's leader and its executor once the agent controls it.
pub fn run(
    control: &TaskControl,
    dir: &Path,
    label: &str,
    job: Option<&Job>,
    on_start: impl FnOnce(Started, ExecutorRef),
) -> Outcome {
    let client = Client::new(dir);
    let connect = || -> Result<(Hello, UnixStream), Outcome> {
        let hello = match job {
            // An executor that already answers here runs this task unrecorded: the agent
            // stopped after starting it and before recording it (or lost its state). Adopt
            // it rather than run the task twice.
            Some(job) => match client.hello() {
                Ok(hello) => {
                    tracing::warn!(
                        "{label}: adopted an executor (pid {}) that runs it unrecorded",
                        hello.executor
                    );
                    hello
                }
                Err(_) => spawn(dir, job)?,
            },
            None => client.hello().map_err(|err| ended(dir, &err))?,
        };
        if hello.protocol != PROTOCOL {
            return Err(Outcome::Lost(format!(
                "its executor (pid {}) speaks protocol {}, this agent {PROTOCOL}",
                hello.executor, hello.protocol
            )));
        }
        let watch = client.watch().map_err(|err| ended(dir, &err))?;
        Ok((hello, watch))
    };
    let leader = || Leader::Executor(client.clone());
    let connected = match job {
        // Started under the task's lock, as an in-process run is: a stop either comes first
        // (and nothing starts) or finds the executor to ask, and a signal sent as soon as
        // the task prints reaches it.
        Some(_) => control.start_with(|| connect().map(|connected| (leader(), connected))),
        // Already running: a stop asked for meanwhile is sent once attached.
        None => connect().inspect(|_| control.attach(leader())),
    };
    let (hello, watch) = match connected {
        Ok(connected) => connected,
        Err(outcome) => return outcome,
    };
    let executor = ExecutorRef {
        pid: hello.executor,
        start_ticks: super::procstats::read_stat(hello.executor).map_or(0, |s| s.start_ticks),
        protocol: hello.protocol,
    };
    on_start(hello.task, executor);
    watch_until_exit(&watch, label);
    let asked = control.detach();
    let outcome = read_exit(dir).unwrap_or_else(|| {
        Outcome::Lost(format!(
            "its executor (pid {}) died without recording the task's end",
            hello.executor
        ))
    });
    control.run_over();
    match outcome {
        Outcome::Exited {
            code,
            signal,
            stopped,
        } => Outcome::Exited {
            code,
            signal,
            stopped: stopped || asked,
        },
        other => other,
    }
}

/// Kill an executor that is still the process `executor` names (a stuck one, or one this
/// agent cannot speak to), so that nothing runs unsupervised.
pub fn kill_executor(executor: &ExecutorRef) {
    let same = super::procstats::read_stat(executor.pid)
        .is_some_and(|s| s.start_ticks == executor.start_ticks && !s.zombie);
    if same && let Some(pid) = rustix::process::Pid::from_raw(executor.pid as i32) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

#[cfg(test)]
mod tests;
