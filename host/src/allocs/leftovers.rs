//! What a run left behind when nobody saw it end (an agent that ran it in-process died, or
//! its executor did): processes of its group, told apart from unrelated ones that reuse a
//! pid by their start time and the task's markers in their environment.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::procstats;

/// How often leftovers are checked while they get time to exit.
const LEFTOVER_POLL: Duration = Duration::from_millis(50);

/// Stop what a previous agent left of a task: processes of group `pgid` started no earlier
/// than its leader (`start_ticks`) and whose environment carries every `markers` pair (the
/// task's NOMAD_ALLOC_ID and NOMAD_TASK_NAME), so a reused pid is never touched. They get
/// SIGTERM, then SIGKILL after `timeout`. Returns how many were found.
pub fn stop_leftovers(
    pgid: u32,
    start_ticks: u64,
    markers: &[(&str, &str)],
    timeout: Duration,
) -> usize {
    let find = || -> Vec<u32> {
        procstats::all_processes()
            .into_iter()
            .filter(|p| p.pgrp == pgid && p.start_ticks >= start_ticks && !p.zombie)
            .filter(|p| has_markers(p.pid, markers))
            .map(|p| p.pid)
            .collect()
    };
    let found = find();
    let signal = |pids: &[u32], signal: Signal| {
        for &pid in pids {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    };
    signal(&found, Signal::TERM);
    let deadline = Instant::now() + timeout;
    let mut left = found.clone();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(LEFTOVER_POLL);
        left = find();
    }
    signal(&left, Signal::KILL);
    found.len()
}

/// Whether `/proc/<pid>/environ` holds every `KEY=value` of `markers`.
fn has_markers(pid: u32, markers: &[(&str, &str)]) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    markers.iter().all(|(key, value)| {
        let wanted = format!("{key}={value}");
        environ
            .split(|&b| b == 0)
            .any(|entry| entry == wanted.as_bytes())
    })
}
