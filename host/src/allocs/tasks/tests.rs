//! Task processes: stops, traps, leftovers, restarts and signals, with real shells.
use super::*;
use crate::allocs::leftovers::stop_leftovers;
use crate::util::testing::{PATIENCE, wait_until};
use std::path::Path;

fn launch(script: &str, logs: Option<&Path>) -> Launch {
    Launch {
        label: "test task".into(),
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
        dir: std::env::temp_dir(),
        logs: logs.map(|dir| LogTarget {
            dir: dir.to_path_buf(),
            index_dir: dir.join("idx"),
            task: "t".into(),
            max_files: 10,
            max_file_size: 1 << 20,
        }),
    }
}

/// Run `script` on a thread; returns the control, the started pid and the outcome.
fn spawn(
    script: &str,
    logs: Option<&Path>,
) -> (
    std::sync::Arc<TaskControl>,
    u32,
    std::thread::JoinHandle<Outcome>,
) {
    let control = std::sync::Arc::new(TaskControl::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let launch = launch(script, logs);
    let thread_control = control.clone();
    let handle = std::thread::spawn(move || {
        let outcome = run(&thread_control, &launch, |s| tx.send(s.pid).unwrap());
        thread_control.finish();
        outcome
    });
    let pid = rx.recv_timeout(PATIENCE).expect("the task never started");
    (control, pid, handle)
}

/// Wait until group `pgid` has no live (not zombie) process: a signalled process takes
/// a while to exit, the longer the busier the machine.
fn wait_group_gone(pgid: u32, what: &str) {
    wait_until(what, || {
        !procstats::all_processes()
            .into_iter()
            .any(|p| p.pgrp == pgid && !p.zombie)
    });
}

/// Wait until the task's stdout (logged under `dir`) holds `line`.
fn wait_output(dir: &Path, line: &str) {
    let file = dir.join("t.stdout.0");
    wait_until(line, || {
        std::fs::read_to_string(&file).is_ok_and(|out| out.lines().any(|l| l == line))
    });
}

#[test]
fn exit_code_and_output_are_collected() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, handle) = spawn("echo out; echo err >&2; exit 7", Some(tmp.path()));
    assert_eq!(
        handle.join().unwrap(),
        Outcome::Exited {
            code: Some(7),
            signal: None,
            stopped: false
        }
    );
    assert_eq!(
        std::fs::read(tmp.path().join("t.stdout.0")).unwrap(),
        b"out\n"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("t.stderr.0")).unwrap(),
        b"err\n"
    );
}

#[test]
fn a_stop_before_the_start_starts_nothing() {
    let control = TaskControl::new();
    control.request_stop();
    let outcome = run(&control, &launch("exit 0", None), |_| panic!("started"));
    assert_eq!(outcome, Outcome::NotStarted);
}

#[test]
fn a_missing_command_fails_to_start() {
    let mut launch = launch("", None);
    launch.command = "/nonexistent/caravan-test".into();
    let outcome = run(&TaskControl::new(), &launch, |_| panic!("started"));
    assert!(matches!(outcome, Outcome::StartFailed(m) if m.contains("No such file")));
}

#[test]
fn stop_terms_the_whole_group_then_kills_what_ignores_it() {
    // The child sleeps in the background: SIGTERM reaches it through the group. With a
    // kill timeout as long as the test's patience, SIGKILL means SIGTERM failed.
    let tmp = tempfile::tempdir().unwrap();
    let (control, pid, handle) = spawn("sleep 1000 & echo forked; wait", Some(tmp.path()));
    wait_output(tmp.path(), "forked");
    stop_all(&[(&control, PATIENCE)]);
    let outcome = handle.join().unwrap();
    assert_eq!(
        outcome,
        Outcome::Exited {
            code: None,
            signal: Some(libc::SIGTERM),
            stopped: true
        }
    );
    wait_group_gone(pid, "the background sleep to be stopped too");

    // The shell says when its trap is set, and again each time SIGTERM reaches it.
    let tmp = tempfile::tempdir().unwrap();
    let (control, _, handle) = spawn(
        "trap 'echo ignored TERM' TERM; echo trapped; while :; do sleep 0.05; done",
        Some(tmp.path()),
    );
    wait_output(tmp.path(), "trapped");
    control.request_stop();
    wait_output(tmp.path(), "ignored TERM");
    assert!(!control.is_done(), "the task outlived SIGTERM");
    let kill_timeout = Duration::from_millis(300);
    let started = Instant::now();
    stop_all(&[(&control, kill_timeout)]);
    let outcome = handle.join().unwrap();
    // SIGKILL never comes before the kill timeout. A lower bound only: a slower machine
    // makes this take longer, never shorter, so load cannot fail it.
    assert!(started.elapsed() >= kill_timeout);
    assert_eq!(
        outcome,
        Outcome::Exited {
            code: None,
            signal: Some(libc::SIGKILL),
            stopped: true
        }
    );
}

#[test]
fn a_restart_ends_the_run_like_a_stop_and_asks_for_another() {
    let idle = TaskControl::new();
    assert!(begin_restart(&idle).is_none(), "nothing runs");
    assert!(!idle.signal(Signal::HUP), "nothing runs");

    let tmp = tempfile::tempdir().unwrap();
    let (control, _, handle) = spawn(
        "trap 'echo got HUP' HUP; echo up; while :; do sleep 0.02; done",
        Some(tmp.path()),
    );
    wait_output(tmp.path(), "up");
    assert!(control.signal(Signal::HUP));
    wait_output(tmp.path(), "got HUP");
    let run = begin_restart(&control).expect("the task runs");
    finish_restart(&control, run, PATIENCE);
    assert_eq!(
        handle.join().unwrap(),
        Outcome::Exited {
            code: None,
            signal: Some(libc::SIGTERM),
            stopped: true
        }
    );
    assert!(control.take_restart());
    assert!(!control.take_restart(), "taken once");
}

#[test]
fn processes_left_in_the_group_go_with_the_leader() {
    let (_, pid, handle) = spawn("sleep 1000 & exit 0", None);
    handle.join().unwrap();
    wait_group_gone(pid, "the group to be gone");
}

#[test]
fn leftovers_are_found_by_group_and_markers_only() {
    let spawn_marked = |marker: &str| {
        std::process::Command::new("/bin/sleep")
            .arg("1000")
            .env("NOMAD_ALLOC_ID", marker)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let mut ours = spawn_marked("a1");
    let mut other = spawn_marked("b2");
    let pgid = ours.id();
    let start = procstats::read_stat(pgid).unwrap().start_ticks;
    let markers = [("NOMAD_ALLOC_ID", "a1")];
    // A kill timeout as long as the test's patience: SIGKILL means SIGTERM failed.
    assert_eq!(stop_leftovers(pgid, start, &markers, PATIENCE), 1);
    assert!(ours.wait().unwrap().signal() == Some(libc::SIGTERM));
    // Same markers, wrong group; right group, a later start time: both untouched.
    assert_eq!(
        stop_leftovers(other.id(), 0, &markers, Duration::from_secs(1)),
        0
    );
    let later = procstats::read_stat(other.id()).unwrap().start_ticks + 1;
    let theirs = [("NOMAD_ALLOC_ID", "b2")];
    assert_eq!(
        stop_leftovers(other.id(), later, &theirs, Duration::from_secs(1)),
        0
    );
    assert!(other.try_wait().unwrap().is_none());
    other.kill().unwrap();
    other.wait().unwrap();
}
