//! Flag tables and how log flags become request parameters.
use super::*;

fn logs(list: &[&str]) -> Logs {
    let mut all = vec!["logs"];
    all.extend_from_slice(list);
    match parse_alloc(&all).unwrap() {
        Command::Alloc(Alloc::Logs(logs)) => logs,
        other => panic!("{other:?}"),
    }
}

#[test]
fn logs_flags_shape_the_request() {
    let l = logs(&["abcd", "web"]);
    assert_eq!(l.types(), ["stdout"]);
    assert_eq!(
        l.path("A", "web", "stdout"),
        "/v1/client/fs/logs/A?task=web&type=stdout"
    );
    // -f alone follows both, from the newest file (Nomad's -f).
    let l = logs(&["-f", "abcd"]);
    assert_eq!(l.task, None);
    assert_eq!(l.types(), ["stdout", "stderr"]);
    assert_eq!(
        l.path("A", "t", "stderr"),
        "/v1/client/fs/logs/A?task=t&type=stderr&follow=true&origin=end&offset=0"
    );
    // -tail -n N: the agent counts the lines.
    let l = logs(&["-tail", "-n", "3", "-stderr", "abcd", "t"]);
    assert_eq!(l.types(), ["stderr"]);
    assert_eq!(
        l.path("A", "t", "stderr"),
        "/v1/client/fs/logs/A?task=t&type=stderr&origin=end&lines=3"
    );
    assert!(logs(&["-n=2", "x1"]).tail, "-n implies -tail");
    assert_eq!(
        logs(&["-tail", "x1"]).path("A", "t", "stdout"),
        "/v1/client/fs/logs/A?task=t&type=stdout&origin=end&lines=10"
    );
    assert_eq!(
        logs(&["-c", "100", "-f", "x1"]).path("A", "t", "stdout"),
        "/v1/client/fs/logs/A?task=t&type=stdout&follow=true&origin=end&offset=100"
    );
    // -f with -tail reads stdout only.
    assert_eq!(logs(&["-f", "-tail", "x1"]).types(), ["stdout"]);
    assert_eq!(
        logs(&["-stdout", "-stderr", "x1"]).types(),
        ["stdout", "stderr"]
    );
    // -since and -timestamps pass through.
    assert_eq!(
        logs(&["-since", "10m", "-timestamps", "x1"]).path("A", "t", "stdout"),
        "/v1/client/fs/logs/A?task=t&type=stdout&since=10m&timestamps=true"
    );
    // -task wins over the argument.
    assert_eq!(logs(&["-task=a", "x1", "b"]).task.as_deref(), Some("a"));
    assert!(parse_alloc(&["logs"]).is_err());
    assert!(parse_alloc(&["logs", "a", "b", "c"]).is_err());
    assert!(parse_alloc(&["logs", "-n", "many", "x1"]).is_err());
    assert!(parse_alloc(&["logs", "-bogus", "x1"]).is_err());
}

#[test]
fn help_and_other_subcommands() {
    let Command::Text(help) = parse_alloc(&["logs", "-help"]).unwrap() else {
        panic!()
    };
    assert!(help.contains("-timestamps"), "{help}");
    assert!(help.starts_with("Usage: caravan alloc logs"), "{help}");
    assert!(matches!(
        parse_alloc(&["fs", "-stat", "ab", "alloc/logs"]).unwrap(),
        Command::Alloc(Alloc::Fs(Fs { stat: true, ref path, .. })) if path == "alloc/logs"
    ));
    assert!(matches!(
        parse_alloc(&["fs", "ab"]).unwrap(),
        Command::Alloc(Alloc::Fs(Fs { ref path, .. })) if path == "/"
    ));
    assert!(matches!(
        parse_alloc(&["status", "-stats", "-json", "ab"]).unwrap(),
        Command::Alloc(Alloc::Status(Status {
            stats: true,
            json: true,
            ..
        }))
    ));
    assert!(matches!(
        parse_alloc(&["gc", "ab"]).unwrap(),
        Command::Alloc(Alloc::Gc(ref id)) if id == "ab"
    ));
    assert!(parse_alloc(&["status"]).is_err());
    let lifecycle = |list: &[&str]| match parse_alloc(list).unwrap() {
        Command::Alloc(Alloc::Restart(l) | Alloc::Signal(l)) => l,
        _ => panic!("{list:?} is not restart or signal"),
    };
    assert_eq!(
        lifecycle(&["restart", "-task", "web", "ab"]),
        Lifecycle {
            alloc: "ab".into(),
            task: Some("web".into()),
            ..Default::default()
        }
    );
    assert_eq!(
        lifecycle(&["restart", "-all-tasks", "ab"]),
        Lifecycle {
            alloc: "ab".into(),
            all_tasks: true,
            ..Default::default()
        }
    );
    assert!(parse_alloc(&["restart", "-all-tasks", "ab", "web"]).is_err());
    assert_eq!(
        lifecycle(&["signal", "-s", "SIGHUP", "ab", "web"]),
        Lifecycle {
            alloc: "ab".into(),
            task: Some("web".into()),
            all_tasks: false,
            signal: "SIGHUP".into(),
        }
    );
    assert_eq!(
        lifecycle(&["signal", "ab"]),
        Lifecycle {
            alloc: "ab".into(),
            signal: "SIGKILL".into(),
            ..Default::default()
        }
    );
    assert!(parse_alloc(&["frob", "ab"]).is_err());
    assert!(parse_alloc(&[]).is_err());
}

#[test]
fn the_only_task_or_the_named_one() {
    let one = json!({"TaskStates": {"web": {}}});
    assert_eq!(pick_task(&one, None).unwrap(), "web");
    assert_eq!(pick_task(&one, Some("x")).unwrap(), "x");
    let two = json!({"TaskStates": {"web": {}, "db": {}}});
    let err = pick_task(&two, None).unwrap_err().to_string();
    assert!(err.contains("db, web"), "{err}");
}

#[test]
fn status_text() {
    let alloc = json!({
        "ID": "47899f44-61ab-4647-9b22-3e092c2bbc1d", "Name": "demo.demo[0]",
        "NodeID": "82c15d58-fb00-47ee-9cff-7cc95e2b85b7", "NodeName": "vm",
        "JobID": "demo", "Namespace": "default", "TaskGroup": "demo",
        "ClientStatus": "running", "DesiredStatus": "run",
        "TaskStates": {"demo": {"State": "running", "StartedAt": "2026-12-01T11:25:57.8Z",
            "FinishedAt": null, "Restarts": 0, "Failed": false}}
    });
    let text = format_status(&alloc, None, false);
    assert!(
        text.starts_with("ID             = 47899f44-61ab-4647-9b22-3e092c2bbc1d\n"),
        "{text}"
    );
    assert!(text.contains("Node ID        = 82c15d58\n"), "{text}");
    assert!(text.contains("\nTask \"demo\" is \"running\"\n"), "{text}");
    assert!(
        text.contains("Started At     = 12/01/26 11:25:57 UTC\n"),
        "{text}"
    );
    assert!(text.contains("Finished At    = N/A\n"), "{text}");
    let stats = json!({"Tasks": {"demo": {"ResourceUsage": {
        "MemoryStats": {"RSS": 3620864, "Usage": 0},
        "CpuStats": {"Percent": 1.5, "TotalTicks": 12.0}}}}});
    let text = format_status(&alloc, Some(&stats), false);
    assert!(text.contains("CPU     Memory\n12 MHz  3.5 MiB\n"), "{text}");
    assert!(text.contains("1.50%"), "{text}");
}

#[test]
fn a_tail_keeps_exactly_the_last_lines() {
    // A line written while the answer was read arrives too: the CLI still prints n.
    assert_eq!(last_n_lines(b"a\nb\nc\n", 2), b"b\nc\n");
    assert_eq!(last_n_lines(b"a\nb\nc", 2), b"b\nc");
    assert_eq!(last_n_lines(b"a\nb\n", 5), b"a\nb\n");
    assert_eq!(last_n_lines(b"a\nb\n", 0), b"");
    assert_eq!(last_n_lines(b"", 3), b"");
}
