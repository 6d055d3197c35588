use super::*;

fn frame(alloc: &str, kind: &str, data: &str) -> Frame {
    use base64::Engine;
    Frame {
        alloc: Some(alloc.into()),
        data: Some(base64::engine::general_purpose::STANDARD.encode(data)),
        task: Some("web".into()),
        kind: Some(kind.into()),
        time: Some(1_796_130_000_500_000_000),
        ..Frame::default()
    }
}

#[test]
fn lines_are_prefixed_with_alloc_and_task_and_coloured_only_on_a_terminal() {
    let plain = Printer {
        both: true,
        timestamps: false,
        colour: false,
    };
    let a = "4789ab12-0000-4000-8000-000000000001";
    assert_eq!(
        plain.line(&frame(a, "stdout", "hello\n")).unwrap(),
        b"4789ab12 web: hello\n"
    );
    assert_eq!(
        plain.line(&frame(a, "stderr", "oops")).unwrap(),
        b"4789ab12 web (stderr): oops\n"
    );
    let timed = Printer {
        timestamps: true,
        both: false,
        ..plain
    };
    assert_eq!(
        timed.line(&frame(a, "stderr", "x\n")).unwrap(),
        b"2026-12-01T13:00:00.500000000Z 4789ab12 web: x\n"
    );
    let coloured = Printer {
        colour: true,
        ..plain
    };
    let line = String::from_utf8(coloured.line(&frame(a, "stdout", "x\n")).unwrap()).unwrap();
    let c = colour_of(a);
    assert_eq!(line, format!("\x1b[{c}m4789ab12 web\x1b[0m: x\n"));
    // Stable per allocation, and not one colour for all.
    let other = "0000aaaa-0000-4000-8000-000000000002";
    assert_eq!(colour_of(a), c);
    assert!((0..8).any(|i| colour_of(&format!("{i}{other}")) != c));
}

#[test]
fn events_and_requests() {
    let plain = Printer {
        both: true,
        timestamps: false,
        colour: false,
    };
    let gone = Frame {
        alloc: Some("4789ab12-0000-4000-8000-000000000001".into()),
        file_event: Some("allocation gone".into()),
        message: Some("node n2 is down".into()),
        ..Frame::default()
    };
    assert_eq!(
        plain.event(&gone),
        "==> allocation gone 4789ab12: node n2 is down\n"
    );
    let logs = JobLogs {
        job: "my job".into(),
        follow: true,
        task: Some("web".into()),
        kind: "stderr".into(),
        since: Some("10m".into()),
        timestamps: false,
        json: false,
    };
    assert_eq!(
        logs.path(None),
        "/v1/job/my%20job/logs?namespace=default&type=stderr&follow=true&task=web&since=10m"
    );
}
