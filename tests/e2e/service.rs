//! The agent as a systemd service: what it tells the service manager (`sd_notify`) and
//! how quiet its log is (issue 28).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Agent, wait_log};

/// A `Type=notify` unit's view: `READY=1` once the API listens, `RELOADING=1` (with the
/// monotonic time systemd asks for) and `READY=1` around a SIGHUP reload, `STOPPING=1` at
/// SIGTERM. The socket stands in for systemd's.
#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    // A bound on a failing test, not a duration the test checks.
    socket
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 1024];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .args(["agent", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", temp.path().join("data").display()))
        .env("NOTIFY_SOCKET", &path);
    let mut agent = Agent::from_command(command);
    assert_eq!(next(), "READY=1\n");
    assert_eq!(agent.get("/v1/client/metadata").status, 200);

    agent.signal(rustix::process::Signal::HUP);
    let reloading = next();
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading}");
    let usec = lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC="));
    assert!(
        usec.is_some_and(|u| u.parse::<u64>().is_ok()),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1\n");
    // READY=1 comes after the reload, which has logged its outcome by then.
    wait_log(&agent, "(SIGHUP)");

    agent.send_sigterm();
    assert_eq!(next(), "STOPPING=1\n");
    assert!(agent.wait_exit().success());
}

/// `-dev` makes its temporary data dir 0700 (it holds the node's secret and ACL tokens)
/// rather than warning about its own 0755, and a stop logs nothing from the libraries
/// (notify used to report each inotify watch of the removed dir it could not remove).
#[test]
fn a_dev_agent_is_private_and_quiet() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut data_dir = None;
    for line in BufReader::new(child.stdout.as_mut().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((_, dir)) = line.split_once(", data dir ") {
            data_dir = Some(PathBuf::from(dir));
        }
        if line.starts_with("Serving HTTP") {
            break;
        }
    }
    let data_dir = data_dir.expect("the data dir line");
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", data_dir.display());
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(!data_dir.exists(), "a dev data dir is removed");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains("wider than"), "{log}");
    for line in log.lines() {
        // `2026-…Z  INFO caravan::agent: …`: the target is the third field.
        let target = line.split_whitespace().nth(2).unwrap_or_default();
        assert!(target.starts_with("caravan"), "a library's line: {line}");
    }
}

/// At start the agent raises its soft open-files limit to the hard one (as Nomad does); the
/// tasks it starts get back the limit it was started with (as Go's `os/exec` gives it back),
/// since a program using `select` fails on descriptors above 1024.
#[test]
fn the_open_files_limit_is_raised_for_the_agent_and_given_back_to_tasks() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -S -n 1024 && ulimit -H -n 4096 && exec \"$0\" \"$@\"",
        ])
        .arg(env!("CARGO_BIN_EXE_caravan"))
        .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", temp.path().display()));
    let agent = Agent::from_command(command);
    let soft_and_hard = |pid: u32| {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap()
            .to_string();
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields[3].to_string(), fields[4].to_string())
    };
    assert_eq!(soft_and_hard(agent.pid()), ("4096".into(), "4096".into()));

    let id = uuid::Uuid::new_v4().to_string();
    let spec = serde_json::json!({"ID": id, "JobID": "e2e", "TaskGroup": "e2e", "Tasks": [{
        "Name": "limits", "Command": "/bin/sh",
        "Args": ["-c", "ulimit -S -n > \"$NOMAD_TASK_DIR/nofile.tmp\" && mv \"$NOMAD_TASK_DIR/nofile.tmp\" \"$NOMAD_TASK_DIR/nofile\" && exec sleep 3600"],
    }]});
    let specs = agent.data_dir.join("specs");
    std::fs::write(specs.join(".limits.tmp"), spec.to_string()).unwrap();
    std::fs::rename(specs.join(".limits.tmp"), specs.join(format!("{id}.json"))).unwrap();
    let report = agent
        .data_dir
        .join(format!("alloc/{id}/limits/local/nofile"));
    crate::support::wait_until("the task to report its limit", || report.exists());
    assert_eq!(std::fs::read_to_string(&report).unwrap().trim(), "1024");
}
