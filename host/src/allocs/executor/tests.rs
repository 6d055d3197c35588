//! The agent's side and the executor's side of the protocol, over a real socket, with the
//! executor's request handling around a task run in this process.

use std::collections::BTreeMap;
use std::os::unix::net::UnixListener;
use std::sync::Arc;

use super::*;

/// A task that exits with 3 on SIGHUP (once it has created `trapped`).
fn launch(dir: &Path) -> Launch {
    Launch {
        label: "test task".into(),
        command: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            "trap 'exit 3' HUP; touch trapped; while :; do sleep 0.01; done".into(),
        ],
        env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
        dir: dir.to_path_buf(),
        logs: None,
    }
}

#[test]
fn the_agent_and_an_executor_speak_the_same_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let control = Arc::new(TaskControl::new());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let runner = {
        let (control, launch) = (control.clone(), launch(&dir));
        std::thread::spawn(move || {
            super::super::tasks::run(&control, &launch, |s| started_tx.send(s).unwrap())
        })
    };
    let started = started_rx.recv().unwrap();
    let listener = UnixListener::bind(dir.join(SOCKET)).unwrap();
    let hello = server::hello_line(42, started);
    {
        let control = control.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (control, hello) = (control.clone(), hello.clone());
                std::thread::spawn(move || server::answer(&stream.unwrap(), &control, &hello));
            }
        });
    }

    let client = Client::new(&dir);
    assert_eq!(
        client.hello().unwrap(),
        Hello {
            protocol: PROTOCOL,
            executor: 42,
            task: started
        }
    );
    assert_eq!(client.request("nonsense").unwrap(), "error unknown request");
    // Other tests of this process may be logging meanwhile: the counts only grow.
    let (stdout, stderr, dropped) = crate::allocs::logmon::written();
    let answer = client.request("counters").unwrap();
    let counted = parse_counters(answer.as_bytes()).expect(&answer);
    assert!(
        counted.stdout >= stdout && counted.stderr >= stderr && counted.dropped >= dropped,
        "{answer}"
    );
    assert_eq!(client.request("signal 0").unwrap(), "error unknown signal");
    crate::util::testing::wait_until("the trap to be set", || dir.join("trapped").exists());
    assert!(client.signal(Signal::HUP));
    let outcome = runner.join().unwrap();
    assert_eq!(
        outcome,
        Outcome::Exited {
            code: Some(3),
            signal: None,
            stopped: false
        }
    );
    assert!(!client.signal(Signal::HUP), "not running any more");
}

#[test]
fn a_run_ends_as_its_exit_file_says_or_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let lost = ended(tmp.path(), &"connection refused");
    assert!(
        matches!(&lost, Outcome::Lost(why) if why.contains("connection refused")),
        "{lost:?}"
    );
    let exited = Outcome::Exited {
        code: Some(7),
        signal: None,
        stopped: false,
    };
    std::fs::write(
        tmp.path().join(EXIT_FILE),
        serde_json::to_vec(&exited).unwrap(),
    )
    .unwrap();
    assert_eq!(ended(tmp.path(), &"gone"), exited);
}

#[test]
fn a_long_directory_is_reached_through_its_descriptor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x".repeat(120));
    std::fs::create_dir(&dir).unwrap();
    let handle = std::fs::File::open(&dir).unwrap();
    let listener = UnixListener::bind(socket_path(&handle)).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        server::answer(&stream, &TaskControl::new(), "hi");
    });
    assert_eq!(Client::new(&dir).request("hello").unwrap(), "hi");
}

#[test]
fn an_executor_speaking_an_unknown_protocol_is_not_adopted() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(tmp.path().join(SOCKET)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let task = Started {
                pid: 4242,
                start_ticks: 7,
            };
            let newer = server::hello_line(43, task).replacen(
                &format!(" {PROTOCOL} "),
                &format!(" {} ", PROTOCOL + 1),
                1,
            );
            std::thread::spawn(move || {
                server::answer(&stream.unwrap(), &TaskControl::new(), &newer)
            });
        }
    });
    let control = TaskControl::new();
    let outcome = run(&control, tmp.path(), "test task", None, |_, _| {
        panic!("adopted an executor of another protocol")
    });
    let expected = format!(
        "its executor (pid 43) speaks protocol {}, this agent {PROTOCOL}",
        PROTOCOL + 1
    );
    assert_eq!(outcome, Outcome::Lost(expected));
    assert!(!control.is_running());
}
