//! The process's open-files limit: raised at start, as Go programs (Nomad among them) do, and
//! given back to the processes the agent starts, as Go's `os/exec` does.

use std::sync::OnceLock;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The limit the agent was started with, before [`raise`].
static INHERITED: OnceLock<Rlimit> = OnceLock::new();

/// Raise the soft open-files limit to the hard one: distributions set the soft limit low
/// (1024) for programs that use `select`, and an agent serving many connections and tasks'
/// logs needs more. Returns the soft limit now in force (`u64::MAX` for none).
pub fn raise() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let _ = INHERITED.set(limit);
    if let Some(current) = limit.current
        && limit.maximum != Some(current)
    {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        // The hard limit may be unlimited, which Linux refuses as a soft limit (above
        // fs.nr_open): then the soft one stays as it was.
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(
                "open-files limit raised from {current} to {}",
                limit.maximum.map_or("unlimited".into(), |m| m.to_string())
            ),
            Err(err) => tracing::debug!("open-files limit left at {current}: {err}"),
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The limit to give a process the agent starts (a task's executor, hence the task): the one
/// the agent inherited, since a program using `select` fails on descriptors above 1024.
/// `None` if the agent never raised its own.
pub fn inherited() -> Option<Rlimit> {
    INHERITED.get().copied()
}

/// In a child between fork and exec: put the inherited limit back. Async-signal-safe (one
/// system call, no allocation); a failure leaves the raised limit, which is harmless.
pub fn restore_in_child(inherited: Option<Rlimit>) {
    if let Some(limit) = inherited {
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
