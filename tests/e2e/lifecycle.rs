//! Acting on allocations end to end: restart in place (counted, its log continued in the
//! next file with nothing lost), signals reaching the task, `alloc-lifecycle` enforced,
//! terminal allocations refused with Nomad's texts, and the `alloc restart|signal` commands.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Agent, task_state, wait_for, wait_task_running, wait_until, write_spec};

/// Numbers its lines, carrying the count across runs in a file of its task dir: a restart
/// may repeat the last number (killed between printing and saving it) but never skip one.
///
/// The count is replaced by a rename, never rewritten in place: a kill between the truncation
/// and the write of `> count` would leave it empty and the next run would start again at 1.
const COUNTER: &str = "i=$(cat count 2>/dev/null || echo 0); \
    while :; do i=$((i+1)); echo \"$i\"; echo \"$i\" > count.new; mv count.new count; \
    sleep 0.02; done";

/// Says when its trap is set, and each time SIGHUP reaches it.
const HUP_TRAP: &str = "trap 'echo got HUP' HUP; echo trapped; while :; do sleep 0.02; done";

/// Place an allocation of `/bin/sh -c` tasks and wait until the agent knows it.
fn place_scripts(agent: &Agent, tasks: &[(&str, &str)]) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(name, script)| {
            json!({"Name": name, "Command": "/bin/sh", "Args": ["-c", script], "KillTimeout": "5s"})
        })
        .collect();
    let spec = json!({"ID": id, "JobID": "life", "TaskGroup": "life", "Tasks": tasks});
    write_spec(agent, &spec);
    wait_until(&format!("allocation {id} to be placed"), || {
        agent.get(&format!("/v1/allocation/{id}")).status == 200
    });
    id
}

/// A log file's text, if it exists.
fn log_file(agent: &Agent, alloc: &str, task: &str, index: u32) -> Option<String> {
    let reply = agent.get(&format!(
        "/v1/client/fs/cat/{alloc}?path=alloc/logs/{task}.stdout.{index}"
    ));
    (reply.status == 200).then(|| reply.text())
}

fn numbers(text: &str) -> Vec<u64> {
    text.lines().map(|l| l.parse().unwrap()).collect()
}

fn post(agent: &Agent, alloc: &str, action: &str, body: Value) -> (u16, String) {
    let reply = agent.request(
        "POST",
        &format!("/v1/client/allocation/{alloc}/{action}"),
        &[],
        body.to_string().as_bytes(),
    );
    (reply.status, reply.text())
}

fn restarts(agent: &Agent, alloc: &str, task: &str) -> u64 {
    task_state(agent, alloc, task).map_or(0, |s| s["Restarts"].as_u64().unwrap_or(0))
}

#[test]
fn restart_continues_the_log_in_the_next_file_with_nothing_lost() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("count", COUNTER), ("idle", HUP_TRAP)]);
    wait_task_running(&agent, &alloc, "count");
    wait_until("a few numbered lines", || {
        log_file(&agent, &alloc, "count", 0).is_some_and(|t| t.lines().count() >= 3)
    });
    assert_eq!(restarts(&agent, &alloc, "count"), 0);

    let (status, body) = post(&agent, &alloc, "restart", json!({"TaskName": "count"}));
    assert_eq!((status, body.as_str()), (200, r#"{"Index":0}"#));
    wait_until("the restart to be counted", || {
        restarts(&agent, &alloc, "count") == 1
    });
    let state = task_state(&agent, &alloc, "count").unwrap();
    assert!(state["LastRestart"].is_string(), "{state}");
    // Only the named task restarted.
    assert_eq!(restarts(&agent, &alloc, "idle"), 0);
    wait_task_running(&agent, &alloc, "count");
    let second = wait_for("numbered lines in the next file", || {
        log_file(&agent, &alloc, "count", 1).filter(|t| t.lines().count() >= 3)
    });
    let first = log_file(&agent, &alloc, "count", 0).unwrap();
    let (first, second) = (numbers(&first), numbers(&second));
    assert_eq!(first[0], 1);
    let all: Vec<u64> = first.iter().chain(&second).copied().collect();
    for pair in all.windows(2) {
        assert!(
            pair[1] == pair[0] || pair[1] == pair[0] + 1,
            "a line was lost or reordered around {pair:?}: {first:?} then {second:?}"
        );
    }

    // Every running task, with AllTasks.
    let (status, _) = post(&agent, &alloc, "restart", json!({"AllTasks": true}));
    assert_eq!(status, 200);
    wait_until("both tasks restarted", || {
        restarts(&agent, &alloc, "count") == 2 && restarts(&agent, &alloc, "idle") == 1
    });
    let reply = agent.get(&format!("/v1/allocation/{alloc}"));
    assert_eq!(reply.json()["ClientStatus"], "running");
}

#[test]
fn a_signalled_task_sees_the_signal() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("trap", HUP_TRAP)]);
    // The task may write before its executor's report reaches the agent: wait for both.
    wait_task_running(&agent, &alloc, "trap");
    wait_until("the trap to be set", || {
        log_file(&agent, &alloc, "trap", 0).is_some_and(|t| t.contains("trapped"))
    });
    let (status, body) = post(
        &agent,
        &alloc,
        "signal",
        json!({"Signal": "SIGHUP", "Task": "trap"}),
    );
    assert_eq!((status, body.as_str()), (200, r#"{"Index":0}"#));
    wait_until("the task to see SIGHUP", || {
        log_file(&agent, &alloc, "trap", 0).is_some_and(|t| t.contains("got HUP"))
    });
    // Still running: a trapped signal is not a stop.
    assert_eq!(
        task_state(&agent, &alloc, "trap").unwrap()["State"],
        "running"
    );

    assert_eq!(
        post(&agent, &alloc, "signal", json!({"Signal": "SIGNOPE"})),
        (400, r#"invalid signal "SIGNOPE""#.into())
    );
    assert_eq!(
        post(
            &agent,
            &alloc,
            "signal",
            json!({"Signal": "SIGHUP", "Task": "nope"})
        ),
        (400, "Task not found".into())
    );
}

#[test]
fn terminal_allocations_are_refused_with_nomads_texts() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("once", "echo done")]);
    wait_until("the allocation to complete", || {
        agent.get(&format!("/v1/allocation/{alloc}")).json()["ClientStatus"] == "complete"
    });
    assert_eq!(
        post(&agent, &alloc, "restart", json!({})),
        (400, "restart of an alloc that should not run".into())
    );
    assert_eq!(
        post(&agent, &alloc, "restart", json!({"TaskName": "once"})),
        (400, "Task not running".into())
    );
    assert_eq!(
        post(
            &agent,
            &alloc,
            "signal",
            json!({"Signal": "SIGHUP", "Task": "once"})
        ),
        (400, "Task not running".into())
    );
    assert_eq!(
        post(&agent, &alloc, "signal", json!({"Signal": "SIGHUP"})),
        (
            400,
            "1 error occurred:\n\t* Failed to signal task: once, err: Task not running\n\n".into()
        )
    );
    assert_eq!(restarts(&agent, &alloc, "once"), 0);
    let checks = agent.get(&format!("/v1/client/allocation/{alloc}/checks"));
    assert_eq!((checks.status, checks.text().as_str()), (200, "{}"));
}

#[test]
fn alloc_lifecycle_is_required() {
    let temp = tempfile::tempdir().unwrap();
    crate::acl::write_acl_files(temp.path());
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let alloc = agent.demo_alloc.clone();
    let as_token = |secret: &str, action: &str, body: &str| {
        let reply = agent.request(
            "POST",
            &format!("/v1/client/allocation/{alloc}/{action}"),
            &[("X-Nomad-Token", secret)],
            body.as_bytes(),
        );
        (reply.status, reply.text())
    };
    let management = [("X-Nomad-Token", "secret-management")];
    let demo_restarts = || {
        let reply = agent.request("GET", &format!("/v1/allocation/{alloc}"), &management, b"");
        reply.json()["TaskStates"]["demo"]["Restarts"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_until("the demo task to run", || {
        let reply = agent.request("GET", &format!("/v1/allocation/{alloc}"), &management, b"");
        reply.status == 200 && reply.json()["TaskStates"]["demo"]["State"] == "running"
    });
    // read-job without alloc-lifecycle: refused, and nothing happens.
    for (action, body) in [
        ("restart", r#"{"TaskName":"demo"}"#),
        ("signal", r#"{"Signal":"SIGHUP","Task":"demo"}"#),
    ] {
        assert_eq!(
            as_token("secret-read", action, body),
            (403, "Permission denied".into())
        );
        assert_eq!(
            as_token("secret-logs-only", action, body),
            (403, "Permission denied".into())
        );
    }
    assert_eq!(demo_restarts(), 0);
    // write includes alloc-lifecycle.
    assert_eq!(
        as_token("secret-write", "restart", r#"{"TaskName":"demo"}"#).0,
        200
    );
    wait_until("the demo task's restart to be counted", || {
        demo_restarts() == 1
    });
}

#[test]
fn the_cli_restarts_and_signals() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("trap", HUP_TRAP)]);
    // The task may write before its executor's report reaches the agent: wait for both.
    wait_task_running(&agent, &alloc, "trap");
    wait_until("the trap to be set", || {
        log_file(&agent, &alloc, "trap", 0).is_some_and(|t| t.contains("trapped"))
    });
    let caravan = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
            .args(args)
            .env("NOMAD_ADDR", format!("http://{}", agent.addr))
            .env_remove("NOMAD_TOKEN")
            .output()
            .expect("failed to run caravan");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let prefix = &alloc[..8];
    let (code, stderr) = caravan(&["alloc", "signal", "-s", "SIGHUP", prefix, "trap"]);
    assert_eq!(code, Some(0), "{stderr}");
    wait_until("the task to see SIGHUP", || {
        log_file(&agent, &alloc, "trap", 0).is_some_and(|t| t.contains("got HUP"))
    });
    let (code, stderr) = caravan(&["alloc", "restart", "-task", "trap", prefix]);
    assert_eq!(code, Some(0), "{stderr}");
    wait_until("the restart to be counted", || {
        restarts(&agent, &alloc, "trap") == 1
    });
    wait_until("the restarted task's log in the next file", || {
        log_file(&agent, &alloc, "trap", 1).is_some_and(|t| t.contains("trapped"))
    });
    // The agent's refusal is the command's error.
    let (code, stderr) = caravan(&["alloc", "restart", prefix, "nope"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("Could not find task runner for task: nope"),
        "{stderr}"
    );
}
