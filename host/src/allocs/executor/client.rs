//! The agent's end of the executor protocol (see the parent module for the protocol): one
//! request line and one answer line per connection, on the socket in the task's executor
//! directory.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;

use crate::allocs::record::Started;

/// How long the agent waits for an executor's answer: a stuck executor must not hold a
/// task's lock for ever.
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's name in the executor directory.
pub(super) const SOCKET: &str = "sock";

/// An executor's answer to `hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The protocol version it speaks.
    pub protocol: u32,
    /// The executor's pid.
    pub executor: u32,
    /// The task it runs.
    pub task: Started,
}

/// The executor of one task, by its directory; every request is a connection of its own.
#[derive(Debug, Clone)]
pub struct Client {
    dir: PathBuf,
}

impl Client {
    /// The executor whose socket is in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Send one request and read its answer line.
    pub(super) fn request(&self, line: &str) -> io::Result<String> {
        let stream = connect(&self.dir)?;
        stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
        (&stream).write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer)?;
        if answer.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the executor closed the connection",
            ));
        }
        Ok(answer.trim_end().to_owned())
    }

    /// `hello`: who is there, and which protocol it speaks.
    pub fn hello(&self) -> io::Result<Hello> {
        let answer = self.request("hello")?;
        let bad = || io::Error::other(format!("not an executor's hello: {answer:?}"));
        let fields: Vec<&str> = answer.split(' ').collect();
        let [name, protocol, executor, pid, start_ticks] = fields[..] else {
            return Err(bad());
        };
        if name != "caravan-executor" {
            return Err(bad());
        }
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        Ok(Hello {
            protocol: u32::try_from(number(protocol)?).map_err(|_| bad())?,
            executor: u32::try_from(number(executor)?).map_err(|_| bad())?,
            task: Started {
                pid: u32::try_from(number(pid)?).map_err(|_| bad())?,
                start_ticks: number(start_ticks)?,
            },
        })
    }

    /// Send `signal` to the task's process group; false if it is not running (or the
    /// executor cannot be reached).
    pub fn signal(&self, signal: Signal) -> bool {
        self.act(&format!("signal {}", signal.as_raw())) == Some(true)
    }

    /// SIGTERM to the task's group; the run counts as stopped.
    pub fn stop(&self) {
        self.act("stop");
    }

    /// SIGKILL to the task's group; the run counts as stopped.
    pub fn kill(&self) {
        self.act("kill");
    }

    /// Whether the executor acted; `None` when it could not be asked (logged).
    fn act(&self, line: &str) -> Option<bool> {
        match self.request(line) {
            Ok(answer) => Some(answer == "ok"),
            Err(err) => {
                tracing::warn!("executor in {}: {line}: {err}", self.dir.display());
                None
            }
        }
    }

    /// The connection kept open while the task runs: reading it returns end-of-file once
    /// the executor exits.
    pub(super) fn watch(&self) -> io::Result<UnixStream> {
        let stream = connect(&self.dir)?;
        stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
        Ok(stream)
    }
}

/// Connect to the executor socket in `dir`, however long the path (a socket's path is
/// limited to about 100 bytes; the directory is reached through its descriptor instead).
pub(super) fn connect(dir: &Path) -> io::Result<UnixStream> {
    let handle = std::fs::File::open(dir)?;
    UnixStream::connect(socket_path(&handle))
}

/// The socket of the executor directory open as `dir`, by its descriptor.
pub(super) fn socket_path(dir: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd()))
}
