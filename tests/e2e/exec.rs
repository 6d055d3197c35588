//! `alloc exec` end to end: a real WebSocket client runs commands in a task's environment,
//! over pipes and on a pseudo-terminal, reads their output and exit code from Nomad's
//! frames; `alloc-exec` and `alloc-node-exec` are required; terminal allocations and bad
//! parameters are refused before the upgrade; the CLI exits with the remote exit code.

use std::net::TcpStream;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, client::IntoClientRequest};

use crate::support::{Agent, PATIENCE, wait_task_running, wait_until, write_spec};

/// Place an allocation of `/bin/sh -c` tasks and wait until the agent knows it.
fn place_scripts(agent: &Agent, tasks: &[(&str, &str)]) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(name, script)| json!({"Name": name, "Command": "/bin/sh", "Args": ["-c", script]}))
        .collect();
    let spec = json!({"ID": id, "JobID": "exec", "TaskGroup": "exec", "Tasks": tasks});
    write_spec(agent, &spec);
    wait_until(&format!("allocation {id} to be placed"), || {
        agent.get(&format!("/v1/allocation/{id}")).status == 200
    });
    id
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn exec_path(alloc: &str, task: &str, command: &[&str], tty: bool) -> String {
    let command = serde_json::to_string(command).unwrap();
    format!(
        "/v1/client/allocation/{alloc}/exec?task={}&command={}&tty={tty}",
        percent(task),
        percent(&command)
    )
}

type Socket = WebSocket<TcpStream>;

/// Open a session.
fn connect(agent: &Agent, path: &str, token: Option<&str>) -> Socket {
    let mut request = format!("ws://{}{path}", agent.addr)
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("X-Nomad-Token", token.parse().unwrap());
    }
    let stream = TcpStream::connect(&agent.addr).unwrap();
    // Only a stuck test ever waits this long.
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => socket,
        Err(err) => panic!("the handshake failed: {err}"),
    }
}

/// A WebSocket handshake the agent refuses: (status, body).
fn refusal(agent: &Agent, path: &str, token: Option<&str>) -> (u16, String) {
    let mut headers = vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    if let Some(token) = token {
        headers.push(("X-Nomad-Token", token));
    }
    let reply = agent.request("GET", path, &headers, b"");
    (reply.status, reply.text())
}

fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).unwrap();
}

fn stdin(socket: &mut Socket, text: &str) {
    let data = base64::engine::general_purpose::STANDARD.encode(text);
    send(socket, json!({"stdin": {"data": data}}));
}

/// Read frames until `exited`: (stdout, stderr, exit code). The socket then closes.
fn run_to_exit(socket: &mut Socket) -> (String, String, i64) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        let message = socket.read().expect("the session ended before `exited`");
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        if frame["exited"] == true {
            let code = frame["result"]["exit_code"].as_i64().unwrap();
            // Then a normal close.
            loop {
                match socket.read() {
                    Ok(Message::Close(_)) => {}
                    Ok(other) => panic!("a frame after `exited`: {other:?}"),
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("no clean close: {e}"),
                }
            }
            let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
            return (text(out), text(err), code);
        }
        for (name, sink) in [("stdout", &mut out), ("stderr", &mut err)] {
            if let Some(data) = frame[name]["data"].as_str() {
                sink.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap(),
                );
            }
        }
    }
}

#[test]
fn an_interactive_shell_over_pipes_runs_in_the_tasks_environment() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("web", "exec sleep 3600")]);
    wait_task_running(&agent, &alloc, "web");
    let mut socket = connect(&agent, &exec_path(&alloc, "web", &["/bin/sh"], false), None);
    stdin(
        &mut socket,
        "echo hi $NOMAD_TASK_NAME; pwd; echo oops >&2; exit 3\n",
    );
    let (out, err, code) = run_to_exit(&mut socket);
    assert!(out.starts_with("hi web\n"), "{out:?}");
    assert!(
        out.trim_end().ends_with(&format!("{alloc}/web")),
        "runs in the task dir: {out:?}"
    );
    assert_eq!(err, "oops\n");
    assert_eq!(code, 3);

    // Input closed: `cat` ends, its exit code 0.
    let mut socket = connect(
        &agent,
        &exec_path(&alloc, "web", &["/bin/cat"], false),
        None,
    );
    stdin(&mut socket, "echoed\n");
    send(&mut socket, json!({"stdin": {"close": true}}));
    assert_eq!(
        run_to_exit(&mut socket),
        ("echoed\n".into(), String::new(), 0)
    );
}

#[test]
fn a_tty_session_reads_through_the_terminal_and_resizes_it() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("web", "exec sleep 3600")]);
    wait_task_running(&agent, &alloc, "web");
    let mut socket = connect(&agent, &exec_path(&alloc, "web", &["/bin/sh"], true), None);
    send(
        &mut socket,
        json!({"tty_size": {"height": 33, "width": 111}}),
    );
    stdin(&mut socket, "tty; stty size; echo hi; exit 3\n");
    let (out, err, code) = run_to_exit(&mut socket);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("33 111"), "{out:?}");
    assert!(out.contains("hi\r\n"), "a terminal's line ends: {out:?}");
    assert_eq!((err.as_str(), code), ("", 3));
}

#[test]
fn refusals_come_before_the_upgrade_with_nomads_texts() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("web", "exec sleep 3600"), ("once", "echo done")]);
    wait_task_running(&agent, &alloc, "web");
    wait_until("the short task to finish", || {
        agent.get(&format!("/v1/allocation/{alloc}")).json()["TaskStates"]["once"]["State"]
            == "dead"
    });
    let once = &agent.get(&format!("/v1/allocation/{alloc}")).json()["TaskStates"]["once"];
    assert!(
        !once["StartedAt"].is_null(),
        "a task that ran has started: {once}"
    );
    let refused = |path: String| refusal(&agent, &path, None);
    assert_eq!(
        refused(exec_path(&alloc, "", &["/bin/sh"], false)),
        (400, "must provide task name".into())
    );
    assert_eq!(
        refused(exec_path(&alloc, "web", &[], false)),
        (400, "command is not present".into())
    );
    assert_eq!(
        refused(exec_path(&alloc, "nope", &["/bin/sh"], false)),
        (400, "unknown task name \"nope\"".into())
    );
    assert_eq!(
        refused(exec_path(&alloc, "once", &["/bin/sh"], false)),
        (404, "task \"once\" is not running.".into())
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        refused(exec_path(&unknown, "web", &["/bin/sh"], false)).0,
        404
    );
    // Not a WebSocket handshake.
    let plain = agent.get(&exec_path(&alloc, "web", &["/bin/sh"], false));
    assert_eq!(plain.status, 400);
    assert!(
        plain.text().contains("'upgrade' token not found"),
        "{}",
        plain.text()
    );
}

#[test]
fn a_terminal_allocation_is_refused() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("once", "echo done")]);
    wait_until("the allocation to complete", || {
        agent.get(&format!("/v1/allocation/{alloc}")).json()["ClientStatus"] == "complete"
    });
    assert_eq!(
        refusal(
            &agent,
            &exec_path(&alloc, "once", &["/bin/sh"], false),
            None
        ),
        (404, "task \"once\" is not running.".into())
    );
}

#[test]
fn alloc_exec_and_alloc_node_exec_are_required() {
    let temp = tempfile::tempdir().unwrap();
    crate::acl::write_acl_files(temp.path());
    std::fs::write(
        temp.path().join("acl/policies/exec.hcl"),
        "namespace \"default\" {\n  policy = \"read\"\n  capabilities = [\"alloc-exec\", \"alloc-node-exec\"]\n}\n",
    )
    .unwrap();
    let token = json!({
        "AccessorID": uuid::Uuid::new_v4().to_string(), "SecretID": "secret-exec",
        "Name": "exec", "Type": "client", "Policies": ["exec"],
    });
    std::fs::write(temp.path().join("acl/tokens/exec.json"), token.to_string()).unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let alloc = agent.demo_alloc.clone();
    wait_until("the demo task to run", || {
        let reply = agent.request(
            "GET",
            &format!("/v1/allocation/{alloc}"),
            &[("X-Nomad-Token", "secret-management")],
            b"",
        );
        reply.status == 200 && reply.json()["TaskStates"]["demo"]["State"] == "running"
    });
    let path = exec_path(&alloc, "demo", &["/bin/sh", "-c", "echo hi; exit 3"], false);
    let denied = (403, "Permission denied".to_string());
    // read: no alloc-exec; write: alloc-exec but not alloc-node-exec; anonymous: nothing.
    for token in [Some("secret-read"), Some("secret-write"), None] {
        assert_eq!(refusal(&agent, &path, token), denied, "{token:?}");
    }
    // The check comes before the parameters: no task named, still 403.
    assert_eq!(
        refusal(
            &agent,
            &exec_path(&alloc, "", &["/bin/sh"], false),
            Some("secret-read")
        ),
        denied
    );
    for token in ["secret-exec", "secret-management"] {
        let mut socket = connect(&agent, &path, Some(token));
        assert_eq!(run_to_exit(&mut socket), ("hi\n".into(), String::new(), 3));
    }
}

#[test]
fn the_cli_runs_a_command_and_exits_with_its_code() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("web", "exec sleep 3600")]);
    wait_task_running(&agent, &alloc, "web");
    let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["alloc", "exec", "-i=false", &alloc[..8], "/bin/sh", "-c"])
        .arg("echo hi; echo err >&2; exit 3")
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("failed to run caravan");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(3));

    // Standard input goes to the command.
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["alloc", "exec", "-task", "web", &alloc, "/bin/cat"])
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_server_relays_a_session_to_the_node_that_runs_the_allocation() {
    let temp = tempfile::tempdir().unwrap();
    let server = Agent::spawn(&temp.path().join("server"), &["-server", "-node=server"]);
    let node = Agent::spawn(
        &temp.path().join("c1"),
        &["-node=c1", &format!("-servers={}", server.addr)],
    );
    let alloc = place_scripts(&node, &[("web", "exec sleep 3600")]);
    wait_task_running(&node, &alloc, "web");
    wait_until("the server to know the allocation", || {
        server.get(&format!("/v1/allocation/{alloc}")).status == 200
    });
    // The handshake goes to the server; the session runs on the node, frames untouched.
    let mut socket = connect(
        &server,
        &exec_path(&alloc, "web", &["/bin/sh"], false),
        None,
    );
    stdin(&mut socket, "echo hi from $NOMAD_TASK_NAME; exit 3\n");
    let (out, err, code) = run_to_exit(&mut socket);
    assert_eq!((out.as_str(), err.as_str(), code), ("hi from web\n", "", 3));
    // Refusals still come before the upgrade, from the node, through the server.
    let (status, body) = refusal(
        &server,
        &exec_path(&alloc, "nope", &["/bin/sh"], false),
        None,
    );
    assert_eq!(status, 400, "{body}");
}

/// A command that cannot start ends the session with Nomad's close (1011, the reason in Go's
/// words), and the CLI prints the reason rather than a bare "no exit code".
#[test]
fn a_command_that_cannot_start_says_why() {
    let agent = Agent::start();
    let alloc = place_scripts(&agent, &[("web", "exec sleep 3600")]);
    wait_task_running(&agent, &alloc, "web");
    for (command, reason) in [
        ("/no/such", "fork/exec /no/such: no such file or directory"),
        (
            "no-such-command",
            "exec: \"no-such-command\": executable file not found in $PATH",
        ),
    ] {
        let mut socket = connect(&agent, &exec_path(&alloc, "web", &[command], false), None);
        let close = loop {
            match socket.read() {
                Ok(Message::Close(Some(close))) => break close,
                Ok(Message::Close(None)) => panic!("a close without a reason"),
                Ok(_) => continue,
                Err(err) => panic!("no close frame: {err}"),
            }
        };
        assert_eq!(u16::from(close.code), 1011);
        assert_eq!(close.reason.as_str(), reason);
    }
    // Standard input is open (and at its end at once), so the CLI's `stdin` close crosses
    // the agent's close frame: the reason still arrives.
    let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["alloc", "exec", &alloc[..8], "/no/such"])
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("failed to run caravan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("failed to exec into task: fork/exec /no/such: no such file or directory"),
        "{stderr}"
    );
}
