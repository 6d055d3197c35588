//! A command run in a task's environment (`alloc exec`): its own process group (its own
//! session on a pseudo-terminal when `tty`), the task's environment and working directory,
//! output read on threads and sent as [`Event`]s, input written by a thread of its own.
//!
//! The process is started by a thread that lives exactly as long as it (the
//! parent-death signal is tied to that thread, as for tasks), which waits for the leader,
//! kills what is left of its group (as a task's end does) and reports the exit code.
//! Whoever holds the [`Process`] can kill the group at any time (the session's socket
//! closed): the group id stays valid until the leader is reaped, under the same lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use caravan_core::alloc::exec::Output;
use rustix::process::{Pid, Signal};
use tokio::sync::mpsc;

/// Where a command run in a task goes.
#[derive(Clone, Debug)]
pub struct ExecTarget {
    /// Names the session in the agent's log.
    pub label: String,
    /// The task's whole environment.
    pub env: BTreeMap<String, String>,
    /// The task's working directory.
    pub dir: PathBuf,
}

/// What a running command reports.
#[derive(Debug)]
pub enum Event {
    /// Output on one stream.
    Data(Output, Vec<u8>),
    /// That stream ended.
    Closed(Output),
    /// The leader exited with this code (128 + the signal when a signal ended it).
    Exited(i32),
}

/// A started command.
pub struct Process {
    group: Arc<Mutex<Option<Pid>>>,
    /// Input for the command; dropping it closes its standard input.
    stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// The terminal's master side, when it runs on one.
    pty: Option<Arc<OwnedFd>>,
    /// How many output streams will report [`Event::Closed`].
    pub outputs: usize,
}

impl Process {
    /// Kill the command's process group (the client went away).
    pub fn kill(&self) {
        if let Some(pid) = *crate::util::lock(&self.group) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
    }

    /// Write to the command's standard input.
    pub fn write(&self, data: Vec<u8>) {
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(data);
        }
    }

    /// The client's input ended: close the pipe, or send end-of-file (^D) to the terminal.
    pub fn close_stdin(&mut self) {
        if self.pty.is_some() {
            self.write(vec![0x04]);
        } else {
            self.stdin = None;
        }
    }

    /// Set the terminal's size (nothing without a terminal).
    pub fn resize(&self, height: u16, width: u16) {
        if let Some(master) = &self.pty {
            let size = rustix::termios::Winsize {
                ws_row: height,
                ws_col: width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = rustix::termios::tcsetwinsize(&**master, size);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pieces of a spawned command the starting thread hands back.
struct Spawned {
    stdin: Box<dyn Write + Send>,
    outputs: Vec<(Output, Box<dyn Read + Send>)>,
    pty: Option<Arc<OwnedFd>>,
}

/// Start `command` in `target`, on a pseudo-terminal when `tty`; events go to `events`.
pub fn start(
    target: ExecTarget,
    command: Vec<String>,
    tty: bool,
    events: mpsc::Sender<Event>,
) -> io::Result<Process> {
    let group = Arc::new(Mutex::new(None));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let leader_group = group.clone();
    let label = target.label.clone();
    let exited = events.clone();
    std::thread::Builder::new()
        .name("exec".into())
        .spawn(move || {
            let mut child = match spawn(&target, &command, tty, &leader_group) {
                Ok((child, spawned)) => {
                    let _ = ready_tx.send(Ok(spawned));
                    child
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let pid = Pid::from_child(&child);
            super::tasks::wait_for_leader(pid);
            {
                let mut group = crate::util::lock(&leader_group);
                // What the leader leaves behind in its group goes with it, as for a task.
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
                *group = None;
            }
            let code = match child.wait() {
                Ok(status) => status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                Err(err) => {
                    tracing::error!("{label}: failed to collect the exit status: {err}");
                    -1
                }
            };
            let _ = exited.blocking_send(Event::Exited(code));
        })?;
    let spawned = ready_rx
        .recv()
        .map_err(|_| io::Error::other("the exec thread ended early"))??;
    let outputs = spawned.outputs.len();
    for (stream, source) in spawned.outputs {
        read_output(stream, source, events.clone())?;
    }
    let stdin = write_input(spawned.stdin)?;
    Ok(Process {
        group,
        stdin: Some(stdin),
        pty: spawned.pty,
        outputs,
    })
}

/// Spawn the command and record its group under `group`.
fn spawn(
    target: &ExecTarget,
    argv: &[String],
    tty: bool,
    group: &Mutex<Option<Pid>>,
) -> io::Result<(std::process::Child, Spawned)> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::other("no command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(&target.env)
        .current_dir(&target.dir);
    let pty = if tty {
        let (master, slave) = open_pty()?;
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        Some(Arc::new(master))
    } else {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        None
    };
    // Like a task, with the open-files limit the agent was started with.
    let open_files = crate::util::open_files::inherited();
    // SAFETY: the closure runs between fork and exec and only makes system calls that are
    // async-signal-safe (setsid, ioctl, prctl, signal, setrlimit); it allocates nothing,
    // takes no lock.
    unsafe {
        command.pre_exec(move || {
            crate::util::open_files::restore_in_child(open_files);
            if tty {
                // A session of its own, with the terminal as its controlling terminal (so
                // ^C reaches its foreground group); its group id is its pid, as with pipes.
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            super::tasks::child_defaults()
        });
    }
    let mut slot = crate::util::lock(group);
    let mut child = command.spawn().map_err(|err| start_error(program, &err))?;
    *slot = Some(Pid::from_child(&child));
    drop(slot);
    // The parent's copies of the terminal's slave side went with `command`.
    drop(command);
    let spawned = match pty {
        Some(master) => {
            let reader = File::from(master.try_clone()?);
            let writer = File::from(master.try_clone()?);
            Spawned {
                stdin: Box::new(writer),
                outputs: vec![(Output::Stdout, Box::new(reader))],
                pty: Some(master),
            }
        }
        None => {
            let missing = || io::Error::other("a pipe of the command is missing");
            let stdin = child.stdin.take().ok_or_else(missing)?;
            let stdout = child.stdout.take().ok_or_else(missing)?;
            let stderr = child.stderr.take().ok_or_else(missing)?;
            Spawned {
                stdin: Box::new(stdin),
                outputs: vec![
                    (Output::Stdout, Box::new(stdout)),
                    (Output::Stderr, Box::new(stderr)),
                ],
                pty: None,
            }
        }
    };
    Ok((child, spawned))
}

/// Why `program` did not start, in Go's words (`os/exec`), which Nomad sends the exec client:
/// `exec: "name": executable file not found in $PATH` for a name searched in `PATH`, else
/// `fork/exec /path: no such file or directory` (the system's reason, as Go spells errnos).
fn start_error(program: &str, err: &io::Error) -> io::Error {
    if !program.contains('/') && err.kind() == io::ErrorKind::NotFound {
        return io::Error::new(
            err.kind(),
            format!(
                "exec: {}: executable file not found in $PATH",
                caravan_core::wire::params::go_quote(program)
            ),
        );
    }
    io::Error::new(
        err.kind(),
        format!("fork/exec {program}: {}", errno_text(err)),
    )
}

/// The system's text for an error as Go's `syscall.Errno` prints it ("no such file or
/// directory"): Rust's, without its " (os error N)" and capital.
fn errno_text(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A new pseudo-terminal: (master, slave).
fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((master, slave))
}

/// Read one output stream on a thread of its own until it ends (a terminal's master side
/// answers EIO once every slave is closed: the end too).
fn read_output(
    stream: Output,
    mut source: Box<dyn Read + Send>,
    events: mpsc::Sender<Event>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("exec-output".into())
        .spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if events
                            .blocking_send(Event::Data(stream, buf[..n].to_vec()))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = events.blocking_send(Event::Closed(stream));
        })?;
    Ok(())
}

/// Write the command's input on a thread of its own, so a command that does not read never
/// blocks the session; the input closes when the sender is dropped.
fn write_input(mut sink: Box<dyn Write + Send>) -> io::Result<mpsc::UnboundedSender<Vec<u8>>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    std::thread::Builder::new()
        .name("exec-input".into())
        .spawn(move || {
            while let Some(data) = rx.blocking_recv() {
                if sink.write_all(&data).and_then(|()| sink.flush()).is_err() {
                    return;
                }
            }
        })?;
    Ok(tx)
}
