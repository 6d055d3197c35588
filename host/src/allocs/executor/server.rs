//! The `caravan executor DIR` process (hidden; the agent starts it): it forks once so that
//! it is nobody's child but init's (or the nearest subreaper's), runs the task described in
//! `DIR/launch` with [`tasks::run`], answers the agent's requests on `DIR/sock`, and writes
//! how the run ended to `DIR/exit` before it exits. Its own messages go to
//! `DIR/executor.log`.
//!
//! The task gets SIGKILL if the executor dies (the parent-death signal [`tasks::run`] sets),
//! so a task never runs on with nobody reading its output; the agent then finds no `exit`
//! file and fails the task. If `DIR` disappears (its allocation's directory was removed, say
//! with a temporary data dir), nobody can reach the executor any more: it stops the task
//! (SIGTERM, SIGKILL after the kill timeout) and exits.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::{EXIT_FILE, Job, LAUNCH_FILE, LOG_FILE, PROTOCOL, SOCKET, socket_path};
use crate::allocs::record::Started;
use crate::allocs::tasks::{self, Outcome, TaskControl};

/// How often the executor checks that its directory is still there.
const DIR_CHECK: Duration = Duration::from_secs(1);

/// `caravan executor DIR`.
pub fn main(args: &[String]) -> ExitCode {
    let [dir] = args else {
        eprintln!("Usage: caravan executor DIR (the agent starts executors; not for people)");
        return ExitCode::from(2);
    };
    match start(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("caravan executor: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Read the job, bind the socket, and fork: the parent returns (its starter learns that
/// the socket is ready), the child serves until the task's run is over.
fn start(dir: &Path) -> io::Result<()> {
    let launch = std::fs::read(dir.join(LAUNCH_FILE))?;
    let job: Job = serde_json::from_slice(&launch).map_err(io::Error::other)?;
    let handle = File::open(dir)?;
    let identity = handle.metadata()?.ino();
    let listener = UnixListener::bind(socket_path(&handle))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(LOG_FILE))?;
    // SAFETY: this process has one thread so far, so the child may do anything after fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            detach_stdio(&log);
            let _ = crate::util::logging::init(crate::util::logging::DEFAULT_LEVEL);
            serve(dir.to_path_buf(), identity, job, listener);
        }
        _ => Ok(()),
    }
}

/// Standard input from /dev/null, output to the executor's log: nothing of the agent's.
fn detach_stdio(log: &File) {
    if let Ok(null) = File::open("/dev/null") {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        unsafe { libc::dup2(null.as_raw_fd(), 0) };
    }
    for fd in [1, 2] {
        // SAFETY: as above.
        unsafe { libc::dup2(log.as_raw_fd(), fd) };
    }
}

/// Run the task and answer requests until the run is over, then exit.
fn serve(dir: PathBuf, identity: u64, job: Job, listener: UnixListener) -> ! {
    let control = Arc::new(TaskControl::new());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let runner = {
        let (control, dir, launch) = (control.clone(), dir.clone(), job.launch.clone());
        std::thread::Builder::new()
            .name("task".into())
            .spawn(move || {
                let outcome = tasks::run(&control, &launch, |started| {
                    let _ = started_tx.send(started);
                });
                finish(&dir, &outcome)
            })
    };
    if let Err(err) = runner {
        finish(&dir, &Outcome::StartFailed(format!("no thread: {err}")));
    }
    let Ok(started) = started_rx.recv() else {
        // It did not start: the runner records that and exits.
        loop {
            std::thread::park();
        }
    };
    tracing::info!("{}: running as pid {}", job.launch.label, started.pid);
    let hello: Arc<str> = hello_line(std::process::id(), started).into();
    let mut checked = Instant::now();
    loop {
        let mut ready = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut ready, 1, DIR_CHECK.as_millis() as i32) };
        if checked.elapsed() >= DIR_CHECK {
            checked = Instant::now();
            let still_there = std::fs::metadata(&dir).is_ok_and(|m| m.ino() == identity);
            if !still_there {
                orphaned(&control, job.kill_timeout, &job.launch.label);
            }
        }
        if n <= 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let (control, hello) = (control.clone(), hello.clone());
        let spawned = std::thread::Builder::new()
            .name("request".into())
            .stack_size(64 * 1024)
            .spawn(move || answer(&stream, &control, &hello));
        if let Err(err) = spawned {
            tracing::warn!("no thread for a request: {err}");
        }
    }
}

/// Record how the run ended where the agent looks for it, and exit (which closes every
/// connection the agent keeps).
fn finish(dir: &Path, outcome: &Outcome) -> ! {
    let recorded = serde_json::to_vec(outcome)
        .map_err(anyhow::Error::from)
        .and_then(|data| crate::util::fs::write_atomic_private(&dir.join(EXIT_FILE), &data));
    if let Err(err) = recorded {
        tracing::error!("failed to record the task's end: {err:#}");
    }
    let _ = std::fs::remove_file(dir.join(SOCKET));
    tracing::info!("task over: {outcome:?}");
    std::process::exit(0)
}

/// The directory is gone: nobody can reach this executor any more, so it stops its task.
fn orphaned(control: &TaskControl, kill_timeout: Duration, label: &str) -> ! {
    tracing::warn!("{label}: the executor's directory is gone, stopping the task");
    tasks::stop_all(&[(control, kill_timeout)]);
    // The runner exits the process once the run is over.
    loop {
        std::thread::park();
    }
}

/// The answer to `hello`.
pub(super) fn hello_line(executor: u32, task: Started) -> String {
    format!(
        "caravan-executor {PROTOCOL} {executor} {} {}",
        task.pid, task.start_ticks
    )
}

/// Answer the requests of one connection, a line each.
pub(super) fn answer(stream: &UnixStream, control: &TaskControl, hello: &str) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let words: Vec<&str> = line.split(' ').collect();
        let reply = match words[..] {
            ["hello"] => hello.to_owned(),
            ["signal", number] => match number.parse().ok().and_then(Signal::from_named_raw) {
                Some(signal) if control.signal(signal) => "ok".into(),
                Some(_) => "not-running".into(),
                None => "error unknown signal".into(),
            },
            ["stop"] => {
                control.request_stop();
                "ok".into()
            }
            ["kill"] => {
                control.kill();
                "ok".into()
            }
            ["counters"] => {
                let (stdout, stderr, dropped) = crate::allocs::logmon::written();
                format!("counters {stdout} {stderr} {dropped}")
            }
            _ => "error unknown request".into(),
        };
        if let Err(err) = (&*stream).write_all(format!("{reply}\n").as_bytes()) {
            tracing::debug!("request {line:?}: {err}");
            return;
        }
    }
}
