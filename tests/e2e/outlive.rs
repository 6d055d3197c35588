//! Tasks outlive the agent (issue 26): a task keeps its process, and its log keeps every
//! line exactly once, across SIGKILL and SIGTERM of the agent; the restarted agent
//! re-attaches (stats, signal, exec and the CLI work on the task), also when its binary was
//! replaced meanwhile (an upgrade in place); a task whose executor is killed is failed, and
//! the agent says so; removing the spec and a `-dev` agent's temporary data dir still stop
//! tasks; executors hold nothing of the agent's.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Agent, task_state, wait_log, wait_task_running, wait_until, write_spec};

/// Prints 1, 2, 3, … one line every 10 ms; SIGHUP is reported on stderr (so stdout holds
/// the numbers alone). Its pid is in `pid` in its task dir.
const COUNTER: &str = "echo $$ > pid; trap 'echo got HUP >&2' HUP; i=0; \
    while :; do i=$((i+1)); echo $i; sleep 0.01; done";

/// Place an allocation of one `/bin/sh -c` task and wait until the agent knows it.
fn place(agent: &Agent, task: &str, script: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let spec = json!({"ID": id, "JobID": "outlive", "TaskGroup": "outlive", "Tasks": [
        {"Name": task, "Command": "/bin/sh", "Args": ["-c", script], "KillTimeout": "5s"}
    ]});
    write_spec(agent, &spec);
    wait_until(&format!("allocation {id} to be placed"), || {
        agent.get(&format!("/v1/allocation/{id}")).status == 200
    });
    id
}

fn task_dir(data: &Path, alloc: &str, task: &str) -> PathBuf {
    data.join("alloc").join(alloc).join(task)
}

/// The task's pid, once it has written it.
fn task_pid(data: &Path, alloc: &str, task: &str) -> u32 {
    let file = task_dir(data, alloc, task).join("pid");
    crate::support::wait_for("the task's pid", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.ends_with('\n'))
            .and_then(|t| t.trim().parse().ok())
    })
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The parent of a process (a task's executor).
fn parent(pid: u32) -> u32 {
    parent_of(pid).expect("the process exists")
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    fields.get(1)?.parse().ok()
}

/// The whole lines of the task's stdout on disk (every file, in order).
fn lines_on_disk(data: &Path, alloc: &str, task: &str) -> usize {
    let logs = data.join("alloc").join(alloc).join("alloc/logs");
    let mut total = 0;
    for index in 0.. {
        match std::fs::read(logs.join(format!("{task}.stdout.{index}"))) {
            Ok(data) => total += data.iter().filter(|&&b| b == b'\n').count(),
            Err(_) => break,
        }
    }
    total
}

/// Wait until the task has written more lines than `than`, with nobody but its executor
/// reading its output.
fn wait_more_lines(data: &Path, alloc: &str, task: &str, than: usize) -> usize {
    crate::support::wait_for("the task to keep writing", || {
        let now = lines_on_disk(data, alloc, task);
        (now > than).then_some(now)
    })
}

/// `fs/logs` from the start: every number once, in order (the last line may be cut short
/// by the read).
fn assert_every_number_once(agent: &Agent, alloc: &str, task: &str, at_least: usize) {
    let reply = agent.get(&format!(
        "/v1/client/fs/logs/{alloc}?task={task}&type=stdout&origin=start&offset=0&plain=true"
    ));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let numbers: Vec<u64> = whole
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        .collect();
    assert!(numbers.len() >= at_least, "{} lines", numbers.len());
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "line {i} of the log, lost or repeated");
    }
}

/// The pids of the task in `GET /v1/client/allocation/:id/stats`.
fn stats_pids(agent: &Agent, alloc: &str, task: &str) -> Vec<u32> {
    let stats = agent.get(&format!("/v1/client/allocation/{alloc}/stats"));
    if stats.status != 200 {
        return Vec::new();
    }
    stats.json()["Tasks"][task]["Pids"]
        .as_object()
        .map(|pids| pids.keys().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

fn caravan(agent: &Agent, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(args)
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("failed to run caravan");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// After a restart: the task is running, its pid is what it was and shows in `stats`, and
/// `signal`, `exec` and `alloc status` work on it.
fn assert_reattached(agent: &Agent, alloc: &str, pid: u32) {
    wait_task_running(agent, alloc, "count");
    assert_eq!(task_pid(&agent.data_dir, alloc, "count"), pid);
    wait_until("the task's pid in stats", || {
        stats_pids(agent, alloc, "count").contains(&pid)
    });

    let hups = |agent: &Agent| {
        let reply = agent.get(&format!(
            "/v1/client/fs/logs/{alloc}?task=count&type=stderr&origin=start&offset=0&plain=true"
        ));
        reply.text().matches("got HUP").count()
    };
    let before = hups(agent);
    let (code, _, stderr) = caravan(agent, &["alloc", "signal", "-s", "SIGHUP", alloc, "count"]);
    assert_eq!(code, Some(0), "{stderr}");
    wait_until("the task to see SIGHUP", || hups(agent) > before);

    let (code, stdout, stderr) = caravan(
        agent,
        &[
            "alloc", "exec", "-i=false", "-task", "count", alloc, "/bin/cat", "pid",
        ],
    );
    assert_eq!((code, stdout), (Some(0), format!("{pid}\n")), "{stderr}");

    let (code, stdout, stderr) = caravan(agent, &["alloc", "status", "-json", alloc]);
    assert_eq!(code, Some(0), "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["ClientStatus"], "running", "{status}");
}

#[test]
fn a_task_keeps_its_process_and_its_log_across_sigkill_and_sigterm_of_the_agent() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let mut agent = Agent::start_in(data, &[]);
    let alloc = place(&agent, "count", COUNTER);
    wait_task_running(&agent, &alloc, "count");
    let pid = task_pid(data, &alloc, "count");
    let started_at = task_state(&agent, &alloc, "count").unwrap()["StartedAt"].clone();
    let mut seen = wait_more_lines(data, &alloc, "count", 0);

    for signal in [rustix::process::Signal::KILL, rustix::process::Signal::TERM] {
        agent.signal(signal);
        let status = agent.wait_exit();
        if signal == rustix::process::Signal::TERM {
            assert!(status.success(), "SIGTERM is a clean shutdown: {status}");
        }
        drop(agent);
        // The agent is gone; the task is not, and its output still reaches its log.
        assert!(alive(pid), "the task died with the agent ({signal:?})");
        seen = wait_more_lines(data, &alloc, "count", seen);
        seen = wait_more_lines(data, &alloc, "count", seen);

        agent = Agent::start_in(data, &[]);
        assert_reattached(&agent, &alloc, pid);
        let state = task_state(&agent, &alloc, "count").unwrap();
        assert_eq!(state["StartedAt"], started_at, "the same run");
        assert_eq!(state["Restarts"], 0);
        wait_log(&agent, "re-attached to its executor");
        seen = wait_more_lines(data, &alloc, "count", seen);
        assert_every_number_once(&agent, &alloc, "count", seen);
    }

    // Removing the spec stops the task, as before.
    std::fs::remove_file(data.join("specs").join(format!("{alloc}.json"))).unwrap();
    wait_until("the task to stop", || !alive(pid));
    wait_until("the allocation to complete", || {
        agent.get(&format!("/v1/allocation/{alloc}")).json()["ClientStatus"] == "complete"
    });
    assert_every_number_once(&agent, &alloc, "count", seen);
    // And it is collected as any other.
    let gc = agent.get(&format!("/v1/client/allocation/{alloc}/gc"));
    assert_eq!(gc.status, 200, "{}", gc.text());
    assert!(!data.join("alloc").join(&alloc).exists());
}

#[test]
fn a_killed_executor_fails_its_task_and_the_agent_says_so() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let mut agent = Agent::start_in(data, &[]);
    let watched = place(&agent, "count", COUNTER);
    let away = place(&agent, "count", COUNTER);
    for alloc in [&watched, &away] {
        wait_task_running(&agent, alloc, "count");
    }

    // While the agent watches.
    let pid = task_pid(data, &watched, "count");
    let executor = parent(pid);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(executor as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_log(
        &agent,
        &format!("allocation {watched} task count: its executor (pid {executor}) died"),
    );
    wait_until("the task to be failed", || {
        task_state(&agent, &watched, "count").is_some_and(|s| s["State"] == "dead")
    });
    let state = task_state(&agent, &watched, "count").unwrap();
    assert_eq!(state["Failed"], true, "{state}");
    wait_until("the task to be gone", || !alive(pid));

    // While the agent is away.
    let pid = task_pid(data, &away, "count");
    let executor = parent(pid);
    agent.signal(rustix::process::Signal::KILL);
    agent.wait_exit();
    drop(agent);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(executor as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until("the task to be gone", || !alive(pid));
    let agent = Agent::start_in(data, &[]);
    wait_log(
        &agent,
        &format!("allocation {away} task count: its executor is gone"),
    );
    wait_until("the task to be failed", || {
        task_state(&agent, &away, "count").is_some_and(|s| s["State"] == "dead")
    });
    let state = task_state(&agent, &away, "count").unwrap();
    assert_eq!(state["Failed"], true, "{state}");
    assert_eq!(
        agent.get(&format!("/v1/allocation/{away}")).json()["ClientStatus"],
        "failed"
    );
}

#[test]
fn a_task_that_ends_while_the_agent_is_away_is_seen_with_its_exit_code() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let mut agent = Agent::start_in(data, &[]);
    let gate = data.join("gate");
    let script = format!(
        "echo $$ > pid; while [ ! -e '{}' ]; do sleep 0.01; done; echo bye; exit 7",
        gate.display()
    );
    let alloc = place(&agent, "once", &script);
    wait_task_running(&agent, &alloc, "once");
    let pid = task_pid(data, &alloc, "once");
    agent.signal(rustix::process::Signal::KILL);
    agent.wait_exit();
    drop(agent);
    std::fs::write(&gate, b"").unwrap();
    wait_until("the task to end", || !alive(pid));

    let agent = Agent::start_in(data, &[]);
    wait_log(
        &agent,
        &format!("allocation {alloc} task once: exited with code 7"),
    );
    let state = task_state(&agent, &alloc, "once").unwrap();
    assert_eq!(
        (&state["State"], &state["Failed"]),
        (&json!("dead"), &json!(true))
    );
    let log = agent.get(&format!(
        "/v1/client/fs/cat/{alloc}?path=alloc/logs/once.stdout.0"
    ));
    assert_eq!(log.text(), "bye\n");
}

/// The session of a process (field 6 of `/proc/<pid>/stat`).
fn session(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[3].parse().unwrap()
}

/// What each descriptor of a process points at.
fn descriptors(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|target| target.display().to_string())
        .collect()
}

#[test]
fn executors_are_in_their_own_session_and_inherit_nothing_of_the_agent() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let agent = Agent::start_in(data, &[]);
    let alloc = place(&agent, "count", COUNTER);
    wait_task_running(&agent, &alloc, "count");
    let pid = task_pid(data, &alloc, "count");
    let executor = parent(pid);
    assert_ne!(
        session(executor),
        session(agent.pid()),
        "a session of its own"
    );
    assert_ne!(parent(executor), agent.pid(), "not the agent's child");

    // Unix sockets are the executor's own (its listener, the agent's connections); a TCP
    // socket would be the agent's listener, leaked.
    let unix: std::collections::HashSet<String> = std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6).map(|i| format!("socket:[{i}]")))
        .collect();
    for (who, pid) in [("executor", executor), ("task", pid)] {
        for target in descriptors(pid) {
            assert!(
                !target.starts_with("socket:") || (who == "executor" && unix.contains(&target)),
                "the {who} holds {target}"
            );
            assert!(!target.contains("state.redb"), "the {who} holds {target}");
            assert!(!target.contains("/acl"), "the {who} holds {target}");
        }
    }
}

#[test]
fn a_dev_agent_without_a_data_dir_stops_its_tasks_when_it_exits() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command.args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"]);
    let agent = Agent::from_command(command);
    let data = agent.data_dir.clone();
    let demo = agent.demo_alloc.clone();
    wait_task_running(&agent, &demo, "demo");
    // The task's leader: the process of its tree whose parent is its executor.
    let is_executor = |pid: u32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|&b| b == 0).nth(1) == Some(b"executor".as_slice()))
    };
    let pid = crate::support::wait_for("the demo task in stats", || {
        stats_pids(&agent, &demo, "demo")
            .into_iter()
            .find(|&p| parent_of(p).is_some_and(is_executor))
    });
    let executor = parent(pid);
    assert!(agent.terminate().success());
    assert!(
        !alive(pid) && !alive(executor),
        "stopped before the agent exits"
    );
    assert!(!data.exists(), "its temporary data dir is gone");
}

#[test]
fn an_agent_from_a_replaced_binary_re_attaches_to_the_executors_of_the_old_one() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The "old" binary, installed at a path of its own and replaced (removed) while its
    // executors run: they keep running the file they were started from.
    let old = temp.path().join("caravan-old");
    std::fs::copy(env!("CARGO_BIN_EXE_caravan"), &old).unwrap();
    let mut command = Command::new(&old);
    command
        .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", data.display()));
    let agent = Agent::from_command(command);
    let alloc = place(&agent, "count", COUNTER);
    wait_task_running(&agent, &alloc, "count");
    let pid = task_pid(&data, &alloc, "count");
    let executor = parent(pid);
    assert!(agent.terminate().success());
    std::fs::remove_file(&old).unwrap();
    let exe = std::fs::read_link(format!("/proc/{executor}/exe")).unwrap();
    assert!(
        exe.display().to_string().ends_with("(deleted)"),
        "the executor runs the old file: {}",
        exe.display()
    );

    let agent = Agent::start_in(&data, &[]);
    assert_reattached(&agent, &alloc, pid);
    assert_eq!(parent(pid), executor, "the same executor");
    wait_log(
        &agent,
        &format!("allocation {alloc} task count: re-attached to its executor (pid {executor})"),
    );
}

/// A counter task placed on an agent on `data` that was then killed: the allocation, the
/// task's pid and its executor's, both still running.
fn a_counter_left_by_a_killed_agent(data: &Path) -> (String, u32, u32) {
    let mut agent = Agent::start_in(data, &[]);
    let alloc = place(&agent, "count", COUNTER);
    wait_task_running(&agent, &alloc, "count");
    let pid = task_pid(data, &alloc, "count");
    let executor = parent(pid);
    agent.signal(rustix::process::Signal::KILL);
    agent.wait_exit();
    drop(agent);
    (alloc, pid, executor)
}

#[test]
fn an_executor_whose_directory_is_removed_stops_its_task() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let (alloc, pid, executor) = a_counter_left_by_a_killed_agent(data);
    // Nobody could reach the executor any more (an operator removed the data dir, say).
    std::fs::remove_dir_all(data.join("alloc").join(&alloc)).unwrap();
    wait_until("the task and its executor to stop", || {
        !alive(pid) && !alive(executor)
    });
}

#[test]
fn an_executor_the_state_does_not_name_is_adopted_not_run_twice() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let (alloc, pid, executor) = a_counter_left_by_a_killed_agent(data);
    // What a kill between starting an executor and recording it leaves behind (here for every
    // task at once): a live executor that the state does not name.
    std::fs::remove_file(data.join("client/state.redb")).unwrap();

    let agent = Agent::start_in(data, &[]);
    wait_log(
        &agent,
        &format!(
            "allocation {alloc} task count: adopted an executor (pid {executor}) that runs it unrecorded"
        ),
    );
    wait_task_running(&agent, &alloc, "count");
    assert!(alive(pid), "the task was not restarted");
    wait_until("the adopted run, alone, in stats", || {
        stats_pids(&agent, &alloc, "count") == vec![pid]
    });
}
