//! What an agent tells a new user as it starts: one warning per ignored Nomad setting
//! (after the log is set up, so that it shows), and a dev agent whose demo task survives
//! the documented `alloc signal` examples.

use std::process::{Command, Stdio};

use crate::support::{Agent, task_state, wait_log, wait_task_running, wait_until};

/// Nomad settings caravan ignores are each named once on stderr, at the default level.
#[test]
fn ignored_nomad_settings_are_each_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.hcl");
    std::fs::write(
        &config,
        "region = \"europe\"\nlog_file = \"/var/log/nomad.log\"\n\
         telemetry {\n  collection_interval = \"1s\"\n}\n\
         client {\n  options = { \"driver.raw_exec.enable\" = \"1\" }\n}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let agent = Agent::spawn(&data, &[&format!("-config={}", config.display())]);
    // Logged after the warnings, on the same stream: once it shows, they all have.
    wait_log(&agent, "loaded (sha256");
    let log = agent.log();
    for (key, line) in [
        ("region", 1),
        ("log_file", 2),
        ("telemetry", 3),
        ("client.options", 7),
    ] {
        let warning = format!(
            "config file {}, line {line}: ignoring {key:?}: a Nomad setting caravan does not implement",
            config.display()
        );
        assert_eq!(log.matches(&warning).count(), 1, "{warning}\nin\n{log}");
    }
    assert_eq!(log.matches("ignoring").count(), 4, "{log}");
}

fn demo_stdout(agent: &Agent) -> String {
    let reply = agent.get(&format!(
        "/v1/client/fs/cat/{}?path=alloc/logs/demo.stdout.0",
        agent.demo_alloc
    ));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text()
}

/// `caravan alloc signal -s SIGHUP ALLOC demo` (docs/cli.md's example) and the other common
/// signals: the demo logs each and keeps running, as it was.
#[test]
fn the_demo_task_logs_the_common_signals_and_keeps_running() {
    let agent = Agent::start();
    let alloc = agent.demo_alloc.clone();
    wait_task_running(&agent, &alloc, "demo");
    for signal in ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGQUIT"] {
        let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
            .args(["alloc", "signal", "-s", signal, &alloc[..8], "demo"])
            .env("NOMAD_ADDR", format!("http://{}", agent.addr))
            .env_remove("NOMAD_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let caught = format!("demo: caught {signal}\n");
        wait_until(&caught, || demo_stdout(&agent).contains(&caught));
        // Still the same run of the task, still printing the date.
        let after = demo_stdout(&agent).len();
        wait_until("a date after the signal", || {
            demo_stdout(&agent)[after..]
                .lines()
                .any(|l| !l.is_empty() && !l.starts_with("demo:"))
        });
        let state = task_state(&agent, &alloc, "demo").unwrap();
        assert_eq!(state["State"], "running", "{state}");
        assert_eq!(state["Restarts"], 0, "{state}");
    }
}

/// A plain-HTTP agent on a wildcard address without ACLs says once that anyone can use it
/// (that loopback is not warned about is `agent::exposure`'s unit test).
#[test]
fn serving_plain_http_beyond_loopback_is_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let open = Agent::start_in(dir.path(), &["-bind=0.0.0.0"]);
    let port = open.addr.rsplit_once(':').unwrap().1;
    let warning =
        format!("serving plain HTTP on 0.0.0.0:{port}, which is not loopback, without TLS or ACLs");
    wait_log(&open, &warning);
    assert_eq!(open.log().matches("which is not loopback").count(), 1);
}
