//! `caravan job logs` and `GET /v1/job/:job_id/logs` (issue 30): a server with two client
//! nodes running job `demo`, one allocation each. Lines are written one at a time, each
//! waited into its node's arrival-time index before the next, so their order across the
//! nodes is known; the merged answer must follow it, with each node's recorded times.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::acl_api::{acl_client, acl_server, bootstrap, create_token, node_token, put_policy};
use crate::cluster::{client, server, wait_for_nodes};
use crate::support::{Agent, kill_executors, wait_until, write_spec};

const TASK: &str = "speak";

/// Place an allocation of job `demo` whose task prints what is put in `alloc/data/say`;
/// `token` reads the agent (with ACLs on).
fn place_speaker(agent: &Agent, token: Option<&str>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let script = "d=$NOMAD_ALLOC_DIR/data; while :; do \
                  if [ -e $d/say ]; then cat $d/say; rm -f $d/say; fi; sleep 0.02; done";
    let spec = json!({"ID": id, "JobID": "demo", "TaskGroup": "demo", "Tasks": [
        {"Name": TASK, "Command": "/bin/sh", "Args": ["-c", script]}
    ]});
    write_spec(agent, &spec);
    wait_until(&format!("task {TASK} of {id} to be running"), || {
        let reply = get(agent, &format!("/v1/allocation/{id}"), token);
        reply.status == 200 && reply.json()["TaskStates"][TASK]["State"] == "running"
    });
    id
}

fn get(agent: &Agent, target: &str, token: Option<&str>) -> crate::support::Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Nomad-Token", t)).into_iter().collect();
    agent.request("GET", target, &headers, b"")
}

/// Have `alloc`'s task print `line`, and wait until it is in the node's log with its time.
fn say(agent: &Agent, alloc: &str, line: &str) {
    say_as(agent, alloc, line, None);
}

fn say_as(agent: &Agent, alloc: &str, line: &str, token: Option<&str>) {
    let data = agent.data_dir.join("alloc").join(alloc).join("alloc/data");
    std::fs::write(data.join("say.tmp"), format!("{line}\n")).unwrap();
    std::fs::rename(data.join("say.tmp"), data.join("say")).unwrap();
    wait_until(&format!("{line:?} in the index"), || {
        timed_lines(agent, alloc, token)
            .iter()
            .any(|(_, l)| l == line)
    });
}

/// A node's own account of an allocation's stdout: (arrival time, line).
fn timed_lines(agent: &Agent, alloc: &str, token: Option<&str>) -> Vec<(String, String)> {
    let reply = get(
        agent,
        &format!("/v1/client/fs/logs/{alloc}?task={TASK}&type=stdout&plain=true&timestamps=true"),
        token,
    );
    if reply.status != 200 {
        return Vec::new();
    }
    reply
        .text()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, l)| (t.to_string(), l.to_string()))
        .collect()
}

fn caravan(addr: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .args(args)
        .env("NOMAD_ADDR", format!("http://{addr}"))
        .env_remove("NOMAD_TOKEN")
        .env_remove("NOMAD_NAMESPACE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.env("NOMAD_TOKEN", token);
    }
    command
}

fn run(addr: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let out = caravan(addr, token, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `caravan job logs -f`, its stdout and stderr collected as they come.
struct Follow {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Follow {
    fn start(addr: &str, args: &[&str]) -> Self {
        let mut child = caravan(addr, None, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |mut from: Box<dyn Read + Send>| {
            let into = Arc::new(Mutex::new(String::new()));
            let sink = into.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            into
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Self { child, out, err }
    }

    fn wait_out(&self, what: &str) {
        wait_until(&format!("{what:?} on stdout"), || {
            self.out.lock().unwrap().contains(what)
        });
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_servers_fleet_view_merges_both_nodes_in_arrival_order_follows_and_survives_a_lost_node() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("server"));
    let c1 = client(&temp.path().join("c1"), "c1", &[&srv]);
    let mut c2 = client(&temp.path().join("c2"), "c2", &[&srv]);
    wait_for_nodes(&srv, 2);
    let (a1, a2) = (place_speaker(&c1, None), place_speaker(&c2, None));
    for alloc in [&a1, &a2] {
        wait_until("the server to know the allocation", || {
            srv.get(&format!("/v1/allocation/{alloc}")).status == 200
        });
    }
    // Controlled writes, alternating between the nodes.
    say(&c1, &a1, "one");
    say(&c2, &a2, "two");
    say(&c1, &a1, "three");
    say(&c2, &a2, "four");

    let (short1, short2) = (&a1[..8], &a2[..8]);
    let (code, out, err) = run(&srv.addr, None, &["job", "logs", "demo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "{short1} {TASK}: one\n{short2} {TASK}: two\n{short1} {TASK}: three\n{short2} {TASK}: four\n"
        ),
        "piped: no colour, merged by arrival"
    );
    // The times are each node's own, as its index recorded them.
    let (code, out, _) = run(&srv.addr, None, &["job", "logs", "-json", "demo"]);
    assert_eq!(code, 0);
    let frames: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut recorded = Vec::new();
    for (agent, alloc) in [(&c1, &a1), (&c2, &a2)] {
        for (time, line) in timed_lines(agent, alloc, None) {
            let nanos = caravan_core::wire::timefmt::parse_rfc3339(&time).unwrap();
            recorded.push((nanos, alloc.clone(), line));
        }
    }
    recorded.sort();
    let merged: Vec<(i64, String, String)> = frames
        .iter()
        .map(|f| {
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD
                .decode(f["Data"].as_str().unwrap())
                .unwrap();
            let line = String::from_utf8(data).unwrap().trim_end().to_string();
            (
                f["Time"].as_i64().unwrap(),
                f["Alloc"].as_str().unwrap().to_string(),
                line,
            )
        })
        .collect();
    assert_eq!(merged, recorded);
    // Through a client: its own allocation only.
    let (_, out, _) = run(&c1.addr, None, &["job", "logs", "-timestamps", "demo"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines()
            .all(|l| l.contains(&format!("Z {short1} {TASK}: "))),
        "{out}"
    );

    // Following both from the time of "four" on (as -since 1s would, without racing the
    // clock): "four" shows it reads, then new lines of both nodes come.
    let four = timed_lines(&c2, &a2, None).last().unwrap().0.clone();
    let follow = Follow::start(&srv.addr, &["job", "logs", "-f", "-since", &four, "demo"]);
    follow.wait_out(&format!("{short2} {TASK}: four"));
    say(&c1, &a1, "five");
    say(&c2, &a2, "six");
    follow.wait_out(&format!("{short1} {TASK}: five"));
    follow.wait_out(&format!("{short2} {TASK}: six"));
    // One node dies: reported once, the other goes on.
    c2.signal(rustix::process::Signal::KILL);
    c2.wait_exit();
    kill_executors(&c2.data_dir);
    wait_until("the lost allocation to be reported", || {
        follow
            .err
            .lock()
            .unwrap()
            .contains(&format!("==> allocation gone {short2}: "))
    });
    say(&c1, &a1, "seven");
    follow.wait_out(&format!("{short1} {TASK}: seven"));
    let err = follow.err.lock().unwrap().clone();
    assert_eq!(err.matches(short2).count(), 1, "reported once: {err}");
}

#[test]
fn with_acls_each_caller_sees_what_its_token_may_read() {
    let temp = tempfile::tempdir().unwrap();
    let srv = acl_server(&temp.path().join("server"), &[]);
    let root = bootstrap(&srv);
    let node = node_token(&srv, &root);
    let c1 = acl_client(&temp.path().join("c1"), &[&srv], &node);
    let c2 = acl_client(&temp.path().join("c2"), &[&srv], &node);
    put_policy(
        &srv,
        &root,
        "logs",
        r#"namespace "default" { capabilities = ["read-logs"] }"#,
    );
    put_policy(
        &srv,
        &root,
        "other",
        r#"namespace "other" { policy = "write" }"#,
    );
    let (_, logs) = create_token(&srv, &root, &["logs"]);
    let (_, other) = create_token(&srv, &root, &["other"]);
    let (a1, a2) = (
        place_speaker(&c1, Some(&root)),
        place_speaker(&c2, Some(&root)),
    );
    wait_until("the server to know both allocations", || {
        let list = srv.request(
            "GET",
            "/v1/allocations",
            &[("X-Nomad-Token", root.as_str())],
            b"",
        );
        let text = list.text();
        text.contains(&a1) && text.contains(&a2)
    });
    say_as(&c1, &a1, "one", Some(&root));
    say_as(&c2, &a2, "two", Some(&root));
    // The clients check the caller's token again, with what they resolve from the server.
    let (code, out, err) = run(&srv.addr, Some(&logs), &["job", "logs", "demo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("{} {TASK}: one\n{} {TASK}: two\n", &a1[..8], &a2[..8])
    );
    for token in [Some(other.as_str()), None] {
        let (code, out, err) = run(&srv.addr, token, &["job", "logs", "demo"]);
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(err.contains("403 (Permission denied)"), "{err}");
    }
    let (code, _, err) = run(&srv.addr, Some("no-such-secret"), &["job", "logs", "demo"]);
    assert_eq!(code, 1);
    assert!(err.contains("ACL token not found"), "{err}");
}
