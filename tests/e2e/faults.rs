//! Faults (issue 13): a full disk, a damaged state database, and SIGKILL while logs rotate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Agent, task_state, wait_for, wait_task_running, wait_until};

/// Start an agent on `data_dir` that is expected to refuse to start; its exit status and
/// everything it printed.
fn start_refused(data_dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", data_dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let status = wait_for("the agent to exit", || child.try_wait().unwrap());
    let text = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    (status, text)
}

#[test]
fn a_damaged_state_database_stops_the_agent_with_a_way_out() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let reply = agent.request("POST", "/v1/client/metadata", &[], br#"{"Meta":{"k":"v"}}"#);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(agent.terminate().success());
    let file = temp.path().join("client/state.redb");
    let good = std::fs::read(&file).unwrap();

    let mut garbage = good.clone();
    garbage[..4096].fill(0x5a);
    let mut body = good.clone();
    body[4096..].fill(0xc3);
    for (what, bytes) in [
        ("a damaged header", garbage),
        ("a damaged body", body),
        ("a truncated file", good[..good.len() / 2].to_vec()),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        let (status, text) = start_refused(temp.path());
        assert!(!status.success(), "{what}: the agent started: {text}");
        assert!(!text.contains("panicked"), "{what}: a panic: {text}");
        assert!(
            text.contains(&file.display().to_string()),
            "{what}: the message names the file: {text}"
        );
        assert!(
            text.contains("is damaged") && text.contains("move it aside"),
            "{what}: the message says what to do: {text}"
        );
    }

    // The documented way out: move it aside, and the agent starts with empty state.
    std::fs::rename(&file, temp.path().join("client/state.redb.damaged")).unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let meta = agent.get("/v1/client/metadata");
    assert_eq!(meta.status, 200);
    assert!(meta.json()["Dynamic"].get("k").is_none());
}
