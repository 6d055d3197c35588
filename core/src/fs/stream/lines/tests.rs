//! The line-by-line `fs/logs` extensions through the real route against the fake host.

use crate::fake::{ALLOC, Fake, FakeListing};
use crate::fs::stream::{Step, Stream};
use crate::http::{Action, Request};

const OUT0: &str = "alloc/logs/web.stdout.0";
const OUT1: &str = "alloc/logs/web.stdout.1";
const ERR0: &str = "alloc/logs/web.stderr.0";
/// 2026-12-01T13:00:00Z.
const T0: i64 = 1_796_130_000_000_000_000;
const S: i64 = 1_000_000_000;

fn call(host: &Fake, query: &str) -> Action<Stream<(), FakeListing>> {
    let req = Request {
        method: "GET".into(),
        path: format!("/v1/client/fs/logs/{ALLOC}"),
        query: query.into(),
        ..Request::default()
    };
    crate::handle(host, &req)
}

fn start(host: &Fake, query: &str) -> Stream<(), FakeListing> {
    match call(host, query) {
        Action::Stream(start) => start.body,
        other => panic!("expected a stream, got {other:?}"),
    }
}

/// Everything a stream without follow sends.
fn all(host: &Fake, query: &str) -> String {
    let mut s = start(host, query);
    let mut out = String::new();
    for now in 0..100 {
        match s.next(host, now) {
            Step::Data(d) => out.push_str(&String::from_utf8(d).unwrap()),
            Step::End => return out,
            Step::Wait(_) => panic!("waits without follow"),
        }
    }
    panic!("no end")
}

/// A task that printed `out 1` .. `out 4` to stdout at T0+1s.. and `err 1`, `err 2`
/// to stderr between them; stdout rotated after its second line.
fn host() -> Fake {
    let host = Fake::default();
    host.start_task();
    host.files.borrow_mut().remove(OUT0);
    host.log_at(OUT0, b"out 1\n", T0 + S);
    host.log_at(ERR0, b"err 1\n", T0 + S + S / 2);
    host.log_at(OUT0, b"out 2\n", T0 + 2 * S);
    host.log_at(OUT1, b"out 3\nout 4\n", T0 + 3 * S);
    host.log_at(ERR0, b"err 2\n", T0 + 3 * S + 1);
    host
}

#[test]
fn timestamps_prefix_each_line_with_its_arrival() {
    let host = host();
    assert_eq!(
        all(&host, "task=web&type=stdout&plain=true&timestamps=true"),
        "2026-12-01T13:00:01.000000000Z out 1\n\
         2026-12-01T13:00:02.000000000Z out 2\n\
         2026-12-01T13:00:03.000000000Z out 3\n\
         2026-12-01T13:00:03.000000000Z out 4\n"
    );
}

#[test]
fn since_and_until_select_a_window_inclusively() {
    let host = host();
    let q = "task=web&type=stdout&plain=true\
             &since=2026-12-01T13:00:02Z&until=2026-12-01T14:00:03%2B01:00";
    assert_eq!(all(&host, q), "out 2\nout 3\nout 4\n");
    // A duration counts back from the host's clock.
    *host.now.borrow_mut() = crate::host::Timestamp {
        seconds: (T0 / S) + 12,
        nanoseconds: 0,
    };
    assert_eq!(
        all(&host, "task=web&type=stdout&plain=true&since=9.5s"),
        "out 3\nout 4\n"
    );
    assert_eq!(
        all(&host, "task=web&type=stdout&plain=true&until=10s"),
        "out 1\nout 2\n"
    );
}

#[test]
fn type_all_merges_by_arrival_with_tags() {
    let host = host();
    assert_eq!(
        all(&host, "task=web&type=all&plain=true"),
        "stdout: out 1\nstderr: err 1\nstdout: out 2\nstdout: out 3\nstdout: out 4\nstderr: err 2\n"
    );
    assert_eq!(
        all(
            &host,
            "task=web&type=all&plain=true&timestamps=true&since=2026-12-01T13:00:03Z"
        ),
        "2026-12-01T13:00:03.000000000Z stdout: out 3\n\
         2026-12-01T13:00:03.000000000Z stdout: out 4\n\
         2026-12-01T13:00:03.000000001Z stderr: err 2\n"
    );
}

#[test]
fn lines_counts_the_lines_shown() {
    let host = host();
    assert_eq!(
        all(&host, "task=web&type=all&plain=true&lines=3"),
        "stdout: out 3\nstdout: out 4\nstderr: err 2\n"
    );
    assert_eq!(
        all(
            &host,
            "task=web&type=all&plain=true&lines=2&until=2026-12-01T13:00:02Z"
        ),
        "stderr: err 1\nstdout: out 2\n"
    );
    assert_eq!(all(&host, "task=web&type=all&plain=true&lines=0"), "");
    assert_eq!(
        all(
            &host,
            "task=web&type=stderr&plain=true&lines=1&timestamps=true"
        ),
        "2026-12-01T13:00:03.000000001Z err 2\n"
    );
}

#[test]
fn frames_carry_each_files_lines_and_offsets() {
    let host = host();
    let body = all(&host, "task=web&type=stdout&since=2026-12-01T13:00:02Z");
    assert_eq!(
        body,
        concat!(
            r#"{"Data":"b3V0IDIK","File":"alloc/logs/web.stdout.0","Offset":12}"#,
            r#"{"Data":"b3V0IDMKb3V0IDQK","File":"alloc/logs/web.stdout.1","Offset":12}"#
        )
    );
}

#[test]
fn files_without_an_index_serve_without_times() {
    let host = Fake::default();
    host.start_task();
    assert_eq!(
        all(&host, "task=web&type=stdout&plain=true&timestamps=true"),
        "hello\n"
    );
    assert_eq!(
        all(&host, "task=web&type=all&plain=true"),
        "stdout: hello\n"
    );
    assert_eq!(all(&host, "task=web&type=stdout&plain=true&since=1h"), "");
}

#[test]
fn follow_holds_unfinished_lines_and_until_exit_ends_after_everything() {
    let host = host();
    *host.task_running.borrow_mut() = true;
    let mut s = start(
        &host,
        "task=web&type=all&plain=true&follow=true&until_exit=true&lines=1",
    );
    assert_eq!(s.next(&host, 0), Step::Data(b"stderr: err 2\n".to_vec()));
    assert_eq!(s.next(&host, 1), Step::Wait(999));
    host.log_at(OUT1, b"out 5\nunfini", T0 + 4 * S);
    assert_eq!(s.next(&host, 2), Step::Data(b"stdout: out 5\n".to_vec()));
    host.log_at(OUT1, b"shed", T0 + 5 * S);
    assert_eq!(s.next(&host, 3), Step::Wait(997));
    *host.task_dead.borrow_mut() = true;
    host.log_at(ERR0, b"err 3\n", T0 + 6 * S);
    assert_eq!(
        s.next(&host, 4),
        Step::Data(b"stdout: unfinished\nstderr: err 3\n".to_vec())
    );
    assert_eq!(s.next(&host, 5), Step::End);
}

#[test]
fn follow_with_until_ends_past_the_window() {
    let host = host();
    *host.task_running.borrow_mut() = true;
    *host.now.borrow_mut() = crate::host::Timestamp {
        seconds: (T0 / S) + 3,
        nanoseconds: 500_000_000,
    };
    let mut s = start(
        &host,
        "task=web&type=stdout&plain=true&follow=true&until=2026-12-01T13:00:04Z",
    );
    assert_eq!(
        s.next(&host, 0),
        Step::Data(b"out 1\nout 2\nout 3\nout 4\n".to_vec())
    );
    assert_eq!(s.next(&host, 1), Step::Wait(999));
    host.log_at(OUT1, b"out 5\n", T0 + 5 * S);
    assert_eq!(s.next(&host, 2), Step::End);
}

#[test]
fn a_rotated_files_unfinished_line_ends_with_the_file() {
    let host = Fake::default();
    host.start_task();
    host.files.borrow_mut().remove(OUT0);
    host.log_at(OUT0, b"cut", T0);
    host.log_at(OUT1, b"next\n", T0 + S);
    let mut s = start(
        &host,
        "task=web&type=stdout&plain=true&follow=true&timestamps=true",
    );
    assert_eq!(
        s.next(&host, 0),
        Step::Data(
            b"2026-12-01T13:00:00.000000000Z cut\n2026-12-01T13:00:01.000000000Z next\n".to_vec()
        )
    );
}

#[test]
fn parameter_errors() {
    let host = host();
    let error = |q: &str| match call(&host, q) {
        Action::Respond(r) => (r.status, String::from_utf8(r.body).unwrap()),
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(
        error("task=web&type=all&since=soon"),
        (
            400,
            r#"failed to parse since field: time: invalid duration "soon""#.into()
        )
    );
    assert_eq!(
        error("task=web&type=both"),
        (400, "must provide log type (stdout/stderr)".into())
    );
    assert_eq!(
        error("task=web&type=stdout&until_exit=2"),
        (400, r#"failed to parse until_exit field to boolean: strconv.ParseBool: parsing "2": invalid syntax"#.into())
    );
    let empty = Fake::default();
    empty.start_task();
    empty.files.borrow_mut().remove(OUT0);
    empty.append("alloc/logs/other.stdout.0", b"x\n");
    match call(&empty, "task=web&type=all") {
        Action::Respond(r) => assert_eq!(
            (r.status, String::from_utf8(r.body).unwrap()),
            (
                404,
                r#"log entry for task "web" and log type "all" not found"#.into()
            )
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_lines_are_cut_to_fit_a_frame() {
    let host = Fake::default();
    host.start_task();
    let long = vec![b'x'; super::LINE_MAX + 10];
    host.log_at(OUT0, &long, T0);
    let body = all(&host, "task=web&type=stdout&plain=true&timestamps=true");
    assert_eq!(body.matches("2026-12-01T13:00:00.000000000Z ").count(), 2);
}
