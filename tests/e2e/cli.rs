//! The command line for people (`caravan alloc …`, `node …`, `system gc`), run as a user
//! would run it against a dev agent: what it prints, that `-json` parses, its exit codes,
//! allocation ids by prefix, and follows that print new lines and end cleanly on Ctrl-C.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::{Agent, wait_for, wait_task_running, wait_until, write_spec};

/// What one run of the command line did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn fails(self) -> Self {
        assert_eq!(
            self.code, 1,
            "expected exit 1:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn command(agent: &Agent, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .args(args)
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .env_remove("RUST_LOG");
    command
}

fn caravan(agent: &Agent, args: &[&str]) -> Run {
    let out = command(agent, args)
        .stdin(Stdio::null())
        .output()
        .expect("failed to run caravan");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Place an allocation with this id and these tasks (`{"Name","Command","Args"}`), and
/// wait until the agent serves its directory.
fn place(agent: &Agent, id: &str, tasks: Value) {
    let spec = json!({"ID": id, "JobID": "cli", "TaskGroup": "cli", "Tasks": tasks});
    write_spec(agent, &spec);
    wait_until(&format!("allocation {id} to be placed"), || {
        agent.get(&format!("/v1/client/fs/ls/{id}")).status == 200
    });
}

fn sleeper(name: &str) -> Value {
    json!({"Name": name, "Command": "/bin/sleep", "Args": ["3600"]})
}

/// A running command whose stdout is collected as it arrives.
struct Follower {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Follower {
    fn start(agent: &Agent, args: &[&str]) -> Self {
        let mut child = command(agent, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to run caravan");
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, out }
    }

    fn wait_output(&mut self, needle: &str) {
        let (out, child) = (&self.out, &mut self.child);
        wait_until(&format!("{needle:?} in the follower's output"), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the follower exited ({status}) before printing {needle:?}:\n{}",
                    out.lock().unwrap()
                );
            }
            out.lock().unwrap().contains(needle)
        });
    }

    /// Ctrl-C, then the exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::INT,
        )
        .unwrap();
        let child = &mut self.child;
        wait_for("the follower to exit", || child.try_wait().unwrap())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn alloc_status_fs_and_logs() {
    let agent = Agent::start();
    let id = agent.demo_alloc.clone();
    wait_task_running(&agent, &id, "demo");
    let prefix = &id[..8];

    // status, by a unique prefix
    let run = caravan(&agent, &["alloc", "status", prefix]).ok();
    assert!(run.stdout.starts_with("ID "), "{}", run.stdout);
    assert!(run.stdout.contains(&id), "{}", run.stdout);
    assert!(
        run.stdout.contains("Client Status  = running"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Task \"demo\" is \"running\""),
        "{}",
        run.stdout
    );
    let status = caravan(&agent, &["alloc", "status", "-json", prefix])
        .ok()
        .json();
    assert_eq!(status["ID"], id.as_str());
    assert_eq!(status["TaskStates"]["demo"]["State"], "running");
    let run = caravan(&agent, &["alloc", "status", "-stats", &id]).ok();
    assert!(run.stdout.contains("Memory Stats"), "{}", run.stdout);
    assert!(run.stdout.contains("CPU Stats"), "{}", run.stdout);
    let both = caravan(&agent, &["alloc", "status", "-stats", "-json", prefix])
        .ok()
        .json();
    assert_eq!(both["Allocation"]["ID"], id.as_str());
    assert!(both["Stats"]["ResourceUsage"].is_object(), "{both}");

    // fs: a directory, a file, a stat
    let run = caravan(&agent, &["alloc", "fs", prefix]).ok();
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["Mode", "Size", "Modified", "Time", "Name"]
    );
    assert!(run.stdout.contains(" alloc/\n"), "{}", run.stdout);
    assert!(run.stdout.contains(" demo/\n"), "{}", run.stdout);
    let list = caravan(&agent, &["alloc", "fs", "-json", prefix, "alloc/logs"])
        .ok()
        .json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"demo.stdout.0"), "{names:?}");
    let file = "alloc/data/config.json";
    let on_disk = std::fs::read_to_string(agent.alloc_dir().join(file)).unwrap();
    let run = caravan(&agent, &["alloc", "fs", prefix, file]).ok();
    assert_eq!(run.stdout, on_disk);
    let run = caravan(&agent, &["alloc", "fs", "-stat", "-H", prefix, file]).ok();
    assert!(run.stdout.starts_with("Mode "), "{}", run.stdout);
    assert!(run.stdout.contains("Content Type"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(" {} ", on_disk.len())),
        "-H prints bytes: {}",
        run.stdout
    );
    let stat = caravan(&agent, &["alloc", "fs", "-stat", "-json", prefix, file])
        .ok()
        .json();
    assert_eq!(stat["Name"], "config.json");
    let run = caravan(&agent, &["alloc", "fs", prefix, "no/such/file"]).fails();
    assert!(
        run.stderr.contains("Unexpected response code: 404"),
        "{}",
        run.stderr
    );

    // logs: the demo task writes "tick" to stderr every second
    wait_until("three lines on stderr", || {
        caravan(&agent, &["alloc", "logs", "-stderr", prefix])
            .ok()
            .stdout
            .matches("tick\n")
            .count()
            >= 3
    });
    let run = caravan(
        &agent,
        &["alloc", "logs", "-stderr", "-tail", "-n", "2", prefix],
    )
    .ok();
    assert_eq!(run.stdout, "tick\ntick\n");
    let run = caravan(
        &agent,
        &["alloc", "logs", "-stderr", "-n=1", prefix, "demo"],
    )
    .ok();
    assert_eq!(run.stdout, "tick\n");
    let run = caravan(&agent, &["alloc", "logs", "-json", "-n", "2", prefix]).ok();
    let frames: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!frames.is_empty(), "{}", run.stdout);
    assert!(
        frames
            .iter()
            .all(|f| f["File"] == "alloc/logs/demo.stdout.0")
    );
    let run = caravan(&agent, &["alloc", "logs", prefix, "nosuchtask"]).fails();
    assert!(
        run.stderr.contains("Unexpected response code: 400"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nosuchtask"), "{}", run.stderr);

    // errors
    let run = caravan(&agent, &["alloc", "status", "ffffffff"]).fails();
    assert!(run.stderr.contains("No allocation"), "{}", run.stderr);
    caravan(&agent, &["alloc", "status", "f"]).fails();
    caravan(&agent, &["alloc", "status"]).fails();
    caravan(&agent, &["alloc", "logs", "-bogus", prefix]).fails();
    let run = caravan(&agent, &["alloc", "logs", "-help"]).ok();
    assert!(run.stdout.contains("-timestamps"), "{}", run.stdout);
}

#[test]
fn allocation_prefixes_unique_and_ambiguous() {
    let agent = Agent::start();
    let (one, two) = (
        "abcd1234-0000-4000-8000-000000000001",
        "abcd5678-0000-4000-8000-000000000002",
    );
    place(&agent, one, json!([sleeper("web"), sleeper("db")]));
    place(&agent, two, json!([sleeper("web")]));

    let run = caravan(&agent, &["alloc", "status", "abcd"]).fails();
    assert!(
        run.stderr.contains("Prefix matched multiple allocations"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(one) && run.stderr.contains(two),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let status = caravan(&agent, &["alloc", "status", "-json", "abcd1"])
        .ok()
        .json();
    assert_eq!(status["ID"], one);
    let status = caravan(&agent, &["alloc", "status", "-json", "abcd5"])
        .ok()
        .json();
    assert_eq!(status["ID"], two);
    // The whole id works too.
    caravan(&agent, &["alloc", "fs", one]).ok();

    // Two tasks: the task must be named.
    let run = caravan(&agent, &["alloc", "logs", "abcd1"]).fails();
    assert!(run.stderr.contains("db, web"), "{}", run.stderr);

    // A running allocation is not collected; the agent's status and message are shown.
    let run = caravan(&agent, &["alloc", "gc", "abcd5"]).fails();
    assert!(
        run.stderr.contains("Unexpected response code: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not eligible for GC"), "{}", run.stderr);
    caravan(&agent, &["system", "gc"]).ok();
}

#[test]
fn node_status_and_meta() {
    let agent = Agent::start();
    let node = agent.node_id.clone();

    let run = caravan(&agent, &["node", "status"]).ok();
    assert!(run.stdout.starts_with("ID "), "{}", run.stdout);
    assert!(run.stdout.contains(&node[..8]), "{}", run.stdout);
    assert!(run.stdout.contains("ready"), "{}", run.stdout);
    let list = caravan(&agent, &["node", "status", "-json"]).ok().json();
    assert_eq!(list[0]["ID"], node.as_str());

    let run = caravan(&agent, &["node", "status", "-self"]).ok();
    assert!(
        run.stdout.contains(&format!("ID          = {node}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\nAllocations\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&agent.demo_alloc[..8]),
        "{}",
        run.stdout
    );
    let run = caravan(&agent, &["node", "status", &node[..6]]).ok();
    assert!(run.stdout.contains(&node), "{}", run.stdout);
    let this = caravan(&agent, &["node", "status", "-self", "-json"])
        .ok()
        .json();
    assert_eq!(this["ID"], node.as_str());
    let run = caravan(&agent, &["node", "status", "-self", "-stats"]).ok();
    assert!(run.stdout.contains("CPU Stats"), "{}", run.stdout);
    assert!(run.stdout.contains("Memory Stats"), "{}", run.stdout);
    let both = caravan(&agent, &["node", "status", "-self", "-stats", "-json"])
        .ok()
        .json();
    assert!(
        both["Stats"]["Memory"]["Total"].as_u64().unwrap() > 0,
        "{both}"
    );
    caravan(&agent, &["node", "status", "zzzz"]).fails();

    // meta apply, read, unset
    let run = caravan(&agent, &["node", "meta", "apply", "rack=r1", "tier.x=2"]).ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = caravan(&agent, &["node", "meta", "read"]).ok();
    assert!(run.stdout.starts_with("All Meta\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("\nDynamic Meta\nrack   = r1\ntier.x = 2\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\nStatic Meta\n"), "{}", run.stdout);
    caravan(&agent, &["node", "meta", "apply", "-unset", "rack"]).ok();
    let meta = caravan(&agent, &["node", "meta", "read", "-json"])
        .ok()
        .json();
    assert_eq!(meta["Dynamic"]["tier.x"], "2");
    assert!(meta["Dynamic"].get("rack").is_none(), "{meta}");
    assert!(meta["Meta"].get("rack").is_none(), "{meta}");
    let run = caravan(&agent, &["node", "meta", "apply", "1bad=x"]).fails();
    assert!(
        run.stderr.contains("Unexpected response code: 400"),
        "{}",
        run.stderr
    );
    caravan(&agent, &["node", "meta", "apply", "novalue"]).fails();

    caravan(&agent, &["system", "gc"]).ok();
}

#[test]
fn follows_print_new_lines_and_ctrl_c_ends_them_cleanly() {
    let agent = Agent::start();
    let id = "f0110000-0000-4000-8000-000000000001";
    let script = "echo started; \
        while :; do \
          if [ -e \"$NOMAD_ALLOC_DIR/data/trigger\" ]; then \
            echo \"marker-$(cat \"$NOMAD_ALLOC_DIR/data/trigger\")\"; \
            rm \"$NOMAD_ALLOC_DIR/data/trigger\"; \
          fi; \
          sleep 0.05; \
        done";
    place(
        &agent,
        id,
        json!([{"Name": "talker", "Command": "/bin/sh", "Args": ["-c", script]}]),
    );
    wait_task_running(&agent, id, "talker");
    let data: PathBuf = agent.data_dir.join("alloc").join(id).join("alloc/data");

    // alloc logs -f: prints a line written after it started, then Ctrl-C → exit 0.
    let mut follower = Follower::start(&agent, &["alloc", "logs", "-f", &id[..8]]);
    follower.wait_output("started\n");
    let tmp = data.join(".trigger");
    std::fs::write(&tmp, "one").unwrap();
    std::fs::rename(&tmp, data.join("trigger")).unwrap();
    follower.wait_output("marker-one\n");
    let status = follower.interrupt();
    assert!(
        status.success(),
        "Ctrl-C ends a follow with exit 0: {status}"
    );

    // alloc fs -f: a file followed as it grows.
    let file = data.join("grow.txt");
    std::fs::write(&file, "first\n").unwrap();
    let mut follower = Follower::start(&agent, &["alloc", "fs", "-f", id, "alloc/data/grow.txt"]);
    follower.wait_output("first\n");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"second\n").unwrap();
    follower.wait_output("second\n");
    let status = follower.interrupt();
    assert!(
        status.success(),
        "Ctrl-C ends a follow with exit 0: {status}"
    );
}
