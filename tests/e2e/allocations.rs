//! Allocations as workloads: tasks run, their logs rotate, their usage is sampled, they stop
//! with SIGTERM then SIGKILL, terminal allocations are garbage-collected (on request and
//! automatically), and a killed agent resumes where it was (its tasks still running).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Agent, wait_log, wait_task_running, wait_until};

/// Write (atomically) the spec of allocation `id` with these tasks.
fn write_spec(agent: &Agent, id: &str, tasks: Value) {
    let spec = json!({"ID": id, "JobID": "e2e", "TaskGroup": "group", "Tasks": tasks});
    crate::support::write_spec(agent, &spec);
}

fn remove_spec(agent: &Agent, id: &str) {
    std::fs::remove_file(agent.data_dir.join("specs").join(format!("{id}.json"))).unwrap();
}

fn sh(name: &str, script: &str) -> Value {
    json!({"Name": name, "Command": "/bin/sh", "Args": ["-c", script]})
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn logs(agent: &Agent, id: &str) -> PathBuf {
    agent.data_dir.join("alloc").join(id).join("alloc/logs")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn gc(agent: &Agent, id: &str) -> crate::support::Reply {
    agent.get(&format!("/v1/client/allocation/{id}/gc"))
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// 50 MiB of reproducible bytes: mostly short lines, and now and then a line longer than
/// the rotator's 32 KiB scan window.
fn fifty_megabytes() -> Vec<u8> {
    let mut data = Vec::with_capacity(50 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while data.len() < 50 << 20 {
        let r = next();
        let len = if r.is_multiple_of(500) {
            40_000 + (r >> 32) % 30_000
        } else {
            (r >> 40) % 200
        };
        for _ in 0..len {
            // Printable, never a newline.
            data.push(b' ' + (next() % 94) as u8);
        }
        data.push(b'\n');
    }
    data.truncate(50 << 20);
    data
}

#[test]
fn a_fast_writer_rotates_without_losing_a_byte_in_bounded_memory() {
    let agent = Agent::start();
    let data = fifty_megabytes();
    let source = agent.data_dir.join("fifty.bin");
    std::fs::write(&source, &data).unwrap();
    let id = new_id();
    let baseline = rss_kib(agent.pid());

    let started = Instant::now();
    write_spec(
        &agent,
        &id,
        json!([{"Name": "writer", "Command": "/bin/cat", "Args": [source],
                "LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 1}}]),
    );
    let mut peak = baseline;
    let done = format!("allocation {id} task writer: exited with code 0");
    wait_until("the writer to finish", || {
        peak = peak.max(rss_kib(agent.pid()));
        agent.log().contains(&done)
    });
    let elapsed = started.elapsed();

    let dir = logs(&agent, &id);
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index = name.strip_prefix("writer.stdout.")?.parse().ok()?;
            Some((index, std::fs::read(e.path()).ok()?))
        })
        .collect();
    files.sort_by_key(|(i, _)| *i);
    let indices: Vec<u64> = files.iter().map(|(i, _)| *i).collect();
    assert!(files.len() <= 3, "{indices:?}");
    assert!(indices.windows(2).all(|w| w[1] == w[0] + 1), "{indices:?}");
    assert!(
        indices[0] >= 47,
        "50 MiB in 1 MiB files rotated: {indices:?}"
    );
    for (index, content) in &files {
        assert!(
            content.len() <= 1 << 20,
            "file {index} has {} bytes",
            content.len()
        );
    }
    // A file ends mid-line only when that line is longer than the 32 KiB scan window.
    for pair in files.windows(2) {
        let (end, start) = (&pair[0].1, &pair[1].1);
        if end.last() != Some(&b'\n') {
            let head = end.len() - end.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let tail = start
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(start.len());
            assert!(
                head + tail > 32 * 1024,
                "a {}-byte line was split",
                head + tail
            );
        }
    }
    let kept: Vec<u8> = files.into_iter().flat_map(|(_, d)| d).collect();
    assert!(kept.len() > 2 << 20);
    assert!(
        data.ends_with(&kept),
        "the kept files are not the tail of the output ({} bytes kept)",
        kept.len()
    );
    eprintln!(
        "50 MiB through the collector in {elapsed:?} ({:.0} MiB/s, spawn included); \
         agent RSS {baseline} KiB before, peak {peak} KiB",
        50.0 / elapsed.as_secs_f64()
    );
    assert!(
        peak < baseline + 32 * 1024,
        "agent RSS grew from {baseline} KiB to {peak} KiB"
    );
}

#[test]
fn cpu_usage_is_near_100_for_a_burner_and_near_0_when_idle() {
    let agent = Agent::start();
    let id = new_id();
    write_spec(
        &agent,
        &id,
        json!([
            sh("burn", "while :; do :; done"),
            sh("idle", "exec sleep 3600")
        ]),
    );
    wait_log(&agent, &format!("allocation {id} is running"));
    let stats = |query: &str| {
        agent
            .get(&format!("/v1/client/allocation/{id}/stats{query}"))
            .json()
    };
    let mut burn = Value::Null;
    // A sample of the burner busy in user mode. On a loaded machine it shares the CPUs,
    // so any one sample may show less: wait for one that shows it at speed.
    wait_until("a sample of the burner at speed in user mode", || {
        burn = stats("?task=burn");
        let cpu = &burn["ResourceUsage"]["CpuStats"];
        cpu["Percent"].as_f64().is_some_and(|p| p > 50.0)
            && cpu["UserMode"].as_f64().is_some_and(|u| u > 40.0)
    });
    let cpu = &burn["ResourceUsage"]["CpuStats"];
    assert!(cpu["Percent"].as_f64().unwrap() < 110.0, "{cpu}");
    assert!(cpu["TotalTicks"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        burn["Tasks"].as_object().unwrap().len(),
        1,
        "the task filter"
    );
    assert!(
        burn["ResourceUsage"]["MemoryStats"]["RSS"]
            .as_u64()
            .unwrap()
            > 0
    );

    let all = stats("");
    let tasks = all["Tasks"].as_object().unwrap();
    assert_eq!(tasks.keys().collect::<Vec<_>>(), ["burn", "idle"]);
    let idle = &tasks["idle"]["ResourceUsage"]["CpuStats"]["Percent"];
    assert!(idle.as_f64().unwrap() < 10.0, "idle task at {idle}%");
    let pids = tasks["idle"]["Pids"].as_object().unwrap();
    assert_eq!(pids.len(), 1, "sleep is one process: {pids:?}");

    remove_spec(&agent, &id);
    wait_until("stopped tasks to leave the stats", || {
        stats("")["Tasks"].as_object().is_some_and(|t| t.is_empty())
    });
}

#[test]
fn gc_refuses_a_running_allocation_and_collects_it_once_stopped() {
    let agent = Agent::start();
    let id = new_id();
    write_spec(&agent, &id, json!([sh("web", "exec sleep 3600")]));
    wait_log(&agent, &format!("allocation {id} is running"));
    let refused = gc(&agent, &id);
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (
            400,
            "No such allocation on client, or allocation not eligible for GC"
        )
    );
    assert!(agent.data_dir.join("alloc").join(&id).is_dir());

    remove_spec(&agent, &id);
    wait_log(&agent, &format!("allocation {id} is complete"));
    let collected = gc(&agent, &id);
    assert_eq!((collected.status, collected.body.len()), (200, 0));
    assert!(!agent.data_dir.join("alloc").join(&id).exists());
    for target in [
        format!("/v1/client/fs/ls/{id}"),
        format!("/v1/client/allocation/{id}/stats"),
        format!("/v1/client/allocation/{id}/gc"),
    ] {
        assert_eq!(agent.get(&target).status, 404, "{target}");
    }
}

#[test]
fn stopping_sends_sigterm_then_sigkill_after_the_kill_timeout() {
    let agent = Agent::start();
    let (polite, stubborn) = (new_id(), new_id());
    write_spec(
        &agent,
        &polite,
        json!([sh(
            "polite",
            "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done"
        )]),
    );
    let mut stubborn_task = sh(
        "stubborn",
        "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.1; done",
    );
    stubborn_task["KillTimeout"] = json!("1500ms");
    write_spec(&agent, &stubborn, json!([stubborn_task]));
    wait_log(&agent, &format!("allocation {polite} is running"));
    wait_until("the trap to be set", || {
        read(&logs(&agent, &stubborn).join("stubborn.stdout.0")) == b"ready\n"
    });

    let removed = Instant::now();
    remove_spec(&agent, &polite);
    remove_spec(&agent, &stubborn);
    // The polite task stops on SIGTERM by itself (a SIGKILL would show as signal 9).
    wait_log(
        &agent,
        &format!("allocation {polite} task polite: exited with code 0"),
    );
    wait_until("the polite task's last words", || {
        read(&logs(&agent, &polite).join("polite.stdout.0")) == b"got TERM\n"
    });
    // The stubborn one got SIGTERM first, ignored it, and was killed.
    wait_log(
        &agent,
        &format!("allocation {stubborn} task stubborn: killed by signal 9"),
    );
    wait_until("the stubborn task to have had SIGTERM first", || {
        read(&logs(&agent, &stubborn).join("stubborn.stdout.0")) == b"ready\ngot TERM\n"
    });
    // Not before its kill timeout. A lower bound only: a loaded machine can make the kill
    // later, never earlier.
    let took = removed.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "SIGKILL after {took:?}, before the kill timeout"
    );
    wait_log(&agent, &format!("allocation {stubborn} is complete"));
    assert_eq!(gc(&agent, &polite).status, 200);
    assert_eq!(gc(&agent, &stubborn).status, 200);
}

#[test]
fn a_failed_task_fails_the_allocation_and_stops_its_siblings() {
    let agent = Agent::start();
    let id = new_id();
    write_spec(
        &agent,
        &id,
        json!([
            sh(
                "long",
                "echo $$ > $NOMAD_ALLOC_DIR/data/pid.tmp; \
                 mv $NOMAD_ALLOC_DIR/data/pid.tmp $NOMAD_ALLOC_DIR/data/pid; exec sleep 3600"
            ),
            // Fails once its sibling is surely running (it wrote its pid).
            sh(
                "short",
                "while [ ! -s $NOMAD_ALLOC_DIR/data/pid ]; do sleep 0.05; done; exit 3"
            )
        ]),
    );
    let pid_file = agent
        .data_dir
        .join("alloc")
        .join(&id)
        .join("alloc/data/pid");
    wait_until("the long task's pid", || read(&pid_file).ends_with(b"\n"));
    let pid: u32 = String::from_utf8(read(&pid_file))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_log(
        &agent,
        &format!("allocation {id} task short: exited with code 3"),
    );
    wait_log(&agent, &format!("allocation {id} is failed"));
    wait_log(
        &agent,
        &format!("allocation {id} task long: killed by signal 15"),
    );
    assert!(!process_alive(pid));
    assert_eq!(
        gc(&agent, &id).status,
        200,
        "a failed allocation is terminal"
    );
}

#[test]
fn a_changed_spec_replaces_the_allocation() {
    let agent = Agent::start();
    let id = new_id();
    write_spec(&agent, &id, json!([sh("web", "echo v1; exec sleep 3600")]));
    let dir = logs(&agent, &id);
    wait_until("v1", || read(&dir.join("web.stdout.0")) == b"v1\n");
    write_spec(&agent, &id, json!([sh("web", "echo v2; exec sleep 3600")]));
    wait_until("v2", || read(&dir.join("web.stdout.1")) == b"v2\n");
    wait_log(
        &agent,
        &format!("allocation {id} task web: killed by signal 15"),
    );
    assert_eq!(read(&dir.join("web.stdout.0")), b"v1\n");
    assert_eq!(gc(&agent, &id).status, 400, "the new allocation runs");
}

#[test]
fn after_kill_9_state_is_kept_and_running_tasks_are_the_same_runs() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let (done, live) = (new_id(), new_id());
    write_spec(
        &agent,
        &done,
        json!([sh("once", "echo finished $NOMAD_ALLOC_ID")]),
    );
    write_spec(
        &agent,
        &live,
        json!([sh("web", "echo run $$; exec sleep 3600")]),
    );
    wait_log(&agent, &format!("allocation {done} is complete"));
    let live_logs = logs(&agent, &live);
    wait_until("the first run", || {
        read(&live_logs.join("web.stdout.0")).ends_with(b"\n")
    });
    let first_run = read(&live_logs.join("web.stdout.0"));
    let first_pid: u32 = String::from_utf8_lossy(&first_run)["run ".len()..]
        .trim()
        .parse()
        .unwrap();
    // The task prints before the agent has recorded its executor: a kill in between would
    // leave nothing to re-attach to. Running, as the API reports it, is recorded.
    wait_task_running(&agent, &live, "web");
    let node_id = agent.node_id.clone();
    let demo = agent.demo_alloc.clone();

    let mut agent = agent;
    agent.signal(rustix::process::Signal::KILL);
    agent.wait_exit();
    drop(agent);
    // The task outlives its agent (its executor is not the agent's child).
    assert!(process_alive(first_pid), "the task died with its agent");

    let agent = Agent::start_in(temp.path(), &[]);
    assert_eq!(
        (agent.node_id.as_str(), agent.demo_alloc.as_str()),
        (node_id.as_str(), demo.as_str())
    );
    // The terminal allocation is still there, readable, and collectable.
    let cat = agent.get(&format!(
        "/v1/client/fs/cat/{done}?path=alloc/logs/once.stdout.0"
    ));
    assert_eq!(
        (cat.status, cat.text()),
        (200, format!("finished {done}\n"))
    );
    // The running one is the same run: re-attached, not started again.
    wait_log(
        &agent,
        &format!("allocation {live} task web: re-attached to its executor"),
    );
    assert!(process_alive(first_pid));
    assert_eq!(read(&live_logs.join("web.stdout.0")), first_run);
    assert!(!live_logs.join("web.stdout.1").exists(), "no second run");
    assert_eq!(gc(&agent, &live).status, 400, "it is still running");
    assert_eq!(gc(&agent, &done).status, 200);
    assert_eq!(agent.get(&format!("/v1/client/fs/ls/{done}")).status, 404);
    wait_log(
        &agent,
        &format!("allocation {demo} task demo: re-attached to its executor"),
    );

    // A graceful stop keeps the collection: it does not come back.
    assert!(agent.terminate().success());
    let agent = Agent::start_in(temp.path(), &[]);
    assert_eq!(agent.get(&format!("/v1/client/fs/ls/{done}")).status, 404);
    assert_eq!(agent.get(&format!("/v1/client/fs/ls/{live}")).status, 200);
}

fn agent_with_config(temp: &Path, hcl: &str) -> Agent {
    let config = temp.join("agent.hcl");
    std::fs::write(&config, hcl).unwrap();
    Agent::start_in(
        &temp.join("data"),
        &[&format!("-config={}", config.display())],
    )
}

#[test]
fn automatic_gc_keeps_at_most_gc_max_allocs() {
    let temp = tempfile::tempdir().unwrap();
    // Only the count may collect here: the disk thresholds at 100 % keep a test machine's
    // fuller disk (CI's was at 82.5 %, over the default 80 %) from collecting everything.
    let agent = agent_with_config(
        temp.path(),
        "client {\n  gc_interval = \"200ms\"\n  gc_max_allocs = 3\n  \
         gc_disk_usage_threshold = 100\n  gc_inode_usage_threshold = 100\n}\n",
    );
    let ids: Vec<String> = (0..4).map(|_| new_id()).collect();
    for id in &ids {
        write_spec(&agent, id, json!([sh("job", "exit 0")]));
        wait_log(&agent, &format!("allocation {id} is complete"));
    }
    // With the running demo allocation: five tracked, three allowed; the oldest go first.
    let exists = |id: &str| agent.get(&format!("/v1/client/fs/ls/{id}")).status == 200;
    wait_until("two collections", || !exists(&ids[0]) && !exists(&ids[1]));
    assert!(exists(&ids[2]) && exists(&ids[3]) && exists(&agent.demo_alloc));
    // Instead of waiting a while to see that nothing more goes: one more terminal
    // allocation makes four, so the next pass must collect exactly the oldest, ids[2].
    let fifth = new_id();
    write_spec(&agent, &fifth, json!([sh("job", "exit 0")]));
    wait_log(&agent, &format!("allocation {fifth} is complete"));
    wait_until("the third collection", || !exists(&ids[2]));
    wait_log(&agent, &format!("garbage-collecting allocation {}", ids[2]));
    assert!(exists(&ids[3]) && exists(&fifth) && exists(&agent.demo_alloc));
    let log = agent.log();
    assert_eq!(
        log.matches("garbage-collecting allocation ").count(),
        3,
        "{log}"
    );
    assert!(!log.contains(&format!("garbage-collecting allocation {}", ids[3])));
}

#[test]
fn automatic_gc_frees_a_full_disk_of_terminal_allocations_only() {
    let temp = tempfile::tempdir().unwrap();
    // Any disk is "full" at a threshold of 0 %.
    let agent = agent_with_config(
        temp.path(),
        "client {\n  gc_interval = \"200ms\"\n  gc_disk_usage_threshold = 0\n}\n",
    );
    let id = new_id();
    write_spec(&agent, &id, json!([sh("job", "exit 0")]));
    wait_log(&agent, &format!("allocation {id} is complete"));
    wait_log(&agent, &format!("garbage-collected allocation {id}"));
    assert_eq!(agent.get(&format!("/v1/client/fs/ls/{id}")).status, 404);
    assert_eq!(
        agent
            .get(&format!("/v1/client/fs/ls/{}", agent.demo_alloc))
            .status,
        200,
        "running allocations are never collected"
    );
}
