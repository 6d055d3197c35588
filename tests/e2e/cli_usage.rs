//! The command line as a new user meets it: every command's `-help` prints its usage and
//! does nothing else, and a closed output (`| head`) ends any command cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use caravan::cli::table::{COMMANDS, HELP_WORDS};

use crate::support::{Agent, wait_for, wait_task_running};

fn caravan(agent: &Agent) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Every command of the table, with each help word, against an agent with ACLs: exit 0,
/// its usage on stdout, and no side effect (the agent could still be bootstrapped after
/// `acl bootstrap -help`; `agent -help` started no agent; `core swap -help` read no file).
#[test]
fn every_commands_help_prints_its_usage_and_does_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path(), &["-acl-enabled"]);
    // A file named like the flag, for `core swap -help` to not read.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("-help"), "not a core").unwrap();
    for entry in COMMANDS {
        for word in HELP_WORDS {
            let mut child = caravan(&agent)
                .current_dir(cwd.path())
                .args(entry.words)
                .arg(word)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // A help fits in the pipe: the command exits without anyone reading.
            let status = wait_for(&format!("{:?} {word} to exit", entry.words), || {
                child.try_wait().unwrap()
            });
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                status.code(),
                Some(0),
                "{:?} {word}: {}",
                entry.words,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout, entry.help(), "{:?} {word}", entry.words);
            assert!(out.stderr.is_empty(), "{:?} {word}", entry.words);
        }
    }
    // The bootstrap is still there to take.
    let out = caravan(&agent).args(["acl", "bootstrap"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Type         = management"), "{stdout}");
}

/// A pipe whose reader is gone.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// `caravan help | head`, `caravan version | …` with the reader gone: a quiet exit 0, not
/// a panic (101).
#[test]
fn help_and_version_to_a_closed_pipe_exit_cleanly() {
    for args in [
        &["help"][..],
        &["version"],
        &["-version"],
        &["alloc", "logs", "-help"],
        &["alloc", "-help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `caravan alloc logs -f ALLOC TASK | head -2`: the stdout follow sees the closed pipe and
/// the stderr one (to a terminal that is still open) must end with it, exit 0.
#[test]
fn a_closed_output_ends_every_follow() {
    let agent = Agent::start();
    let alloc = agent.demo_alloc.clone();
    wait_task_running(&agent, &alloc, "demo");
    let mut child = caravan(&agent)
        .args(["alloc", "logs", "-f", &alloc, "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr (the `tick` follow) for as long as the command writes it.
    let stderr = child.stderr.take().unwrap();
    let drained = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    // `head -2`: two lines, then the pipe is closed.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0);
    }
    drop(stdout);
    // The demo writes every second: the next write finds the pipe closed.
    let status = wait_for("the follow to end", || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
    let stderr = drained.join().unwrap();
    assert!(
        stderr.iter().all(|l| l == "tick"),
        "only the task's stderr, no error: {stderr:?}"
    );
}
