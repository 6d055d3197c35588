//! The stream machine driven through the real routes (`fs/stream`, `fs/logs`) against the
//! fake host: parameters in, frames out.

use super::*;
use crate::fake::{ALLOC, Fake, FakeListing};
use crate::http::{Action, Request};

/// What the core decides for `GET /v1/client/fs/<op>/<alloc>?<query>`.
fn call(host: &Fake, op: &str, query: &str) -> Action<Stream<(), FakeListing>> {
    let req = Request {
        method: "GET".into(),
        path: format!("/v1/client/fs/{op}/{ALLOC}"),
        query: query.into(),
        ..Request::default()
    };
    crate::handle(host, &req)
}

fn start(host: &Fake, op: &str, query: &str) -> Stream<(), FakeListing> {
    match call(host, op, query) {
        Action::Stream(start) => start.body,
        other => panic!("expected a stream, got {other:?}"),
    }
}

fn error(host: &Fake, op: &str, query: &str) -> (u16, String) {
    match call(host, op, query) {
        Action::Respond(r) => (r.status, String::from_utf8(r.body).unwrap()),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn text(step: Step) -> String {
    match step {
        Step::Data(data) => String::from_utf8(data).unwrap(),
        other => panic!("expected data, got {other:?}"),
    }
}

const LOG: &str = "alloc/logs/web.stdout.0";

#[test]
fn stream_without_follow_reads_to_the_end() {
    let host = Fake::default();
    let mut s = start(&host, "stream", &format!("path={LOG}&follow=false"));
    assert_eq!(
        text(s.next(&host, 0)),
        r#"{"Data":"aGVsbG8K","File":"alloc/logs/web.stdout.0","Offset":6}"#
    );
    assert_eq!(s.next(&host, 1), Step::End);
}

#[test]
fn following_waits_heartbeats_and_sees_appends_truncation_and_deletion() {
    let host = Fake::default();
    let mut s = start(&host, "stream", &format!("path=/{LOG}&origin=end&offset=2"));
    assert_eq!(
        text(s.next(&host, 0)),
        r#"{"Data":"bwo=","File":"/alloc/logs/web.stdout.0","Offset":6}"#
    );
    assert_eq!(s.next(&host, 10), Step::Wait(990));
    assert_eq!(host.watches.borrow().as_slice(), [LOG.to_string()]);
    host.append(LOG, b"more");
    assert_eq!(
        text(s.next(&host, 20)),
        r#"{"Data":"bW9yZQ==","File":"/alloc/logs/web.stdout.0","Offset":10}"#
    );
    assert_eq!(text(s.next(&host, 1000)), "{}");
    assert_eq!(s.next(&host, 1001), Step::Wait(999));
    host.set(LOG, b"ab");
    assert_eq!(
        text(s.next(&host, 1500)),
        r#"{"Data":"YWI=","File":"/alloc/logs/web.stdout.0","FileEvent":"file truncated","Offset":2}"#
    );
    host.remove(LOG);
    assert_eq!(
        text(s.next(&host, 1600)),
        r#"{"File":"/alloc/logs/web.stdout.0","FileEvent":"file deleted","Offset":2}"#
    );
    assert_eq!(s.next(&host, 1700), Step::End);
}

#[test]
fn a_wake_up_at_the_end_of_a_followed_file_reads_it_once() {
    let host = Fake::default();
    let mut s = start(&host, "stream", &format!("path=/{LOG}&origin=end&offset=0"));
    assert_eq!(s.next(&host, 0), Step::Wait(1000));
    host.append(LOG, b"more");
    let before = *host.reads.borrow();
    assert_eq!(
        text(s.next(&host, 10)),
        r#"{"Data":"bW9yZQ==","File":"/alloc/logs/web.stdout.0","Offset":10}"#
    );
    // The short read is the end of the file: no second read to learn it (a thousand
    // followers of one file pay this at every appended line).
    assert_eq!(*host.reads.borrow() - before, 1);
}

#[test]
fn a_replaced_file_counts_as_deleted() {
    let host = Fake::default();
    let mut s = start(&host, "stream", &format!("path={LOG}&origin=end"));
    assert_eq!(s.next(&host, 0), Step::Wait(1000));
    host.inodes.borrow_mut().insert(LOG.into(), 99);
    assert!(text(s.next(&host, 1)).contains("file deleted"));
}

#[test]
fn stream_errors() {
    let host = Fake::default();
    assert_eq!(
        error(&host, "stream", ""),
        (400, "must provide a file name".into())
    );
    assert_eq!(
        error(&host, "stream", "path=x&follow=maybe"),
        (400, r#"failed to parse follow field to boolean: strconv.ParseBool: parsing "maybe": invalid syntax"#.into())
    );
    assert_eq!(
        error(&host, "stream", "path=x&origin=middle"),
        (400, "origin must be start or end".into())
    );
    assert_eq!(
        error(&host, "stream", "path=alloc"),
        (400, r#"file "alloc" is a directory"#.into())
    );
    assert_eq!(
        error(&host, "stream", "path=nope"),
        (404, "stat nope: no such file or directory".into())
    );
    assert_eq!(
        error(&host, "stream", &format!("path={LOG}&offset=-1")),
        (400, "can't seek to offset -1: invalid argument".into())
    );
}

#[test]
fn logs_walk_rotated_files() {
    let host = Fake::default();
    host.start_task();
    host.append("alloc/logs/web.stdout.1", b"second\n");
    host.append("alloc/logs/web.stdout.2", b"third\n");
    // origin=end&offset=0 is the whole newest file (Nomad's quirk).
    let mut s = start(&host, "logs", "task=web&type=stdout&origin=end&plain=true");
    assert_eq!(text(s.next(&host, 0)), "third\n");
    assert_eq!(s.next(&host, 1), Step::End);
    let mut s = start(&host, "logs", "task=web&type=stdout&plain=True");
    assert_eq!(text(s.next(&host, 0)), "hello\nsecond\nthird\n");
    let mut s = start(&host, "logs", "task=web&type=stdout&origin=end&offset=9");
    assert_eq!(
        text(s.next(&host, 0)),
        concat!(
            r#"{"Data":"bmQK","File":"alloc/logs/web.stdout.1","Offset":7}"#,
            r#"{"Data":"dGhpcmQK","File":"alloc/logs/web.stdout.2","Offset":6}"#
        )
    );
    // Following moves on to a file created later.
    let mut s = start(
        &host,
        "logs",
        "task=web&type=stdout&origin=end&follow=true&plain=true",
    );
    assert_eq!(text(s.next(&host, 0)), "third\n");
    assert_eq!(s.next(&host, 1), Step::Wait(999));
    assert_eq!(host.watches.borrow().last().unwrap(), "alloc/logs");
    host.append("alloc/logs/web.stdout.3", b"fourth\n");
    assert_eq!(text(s.next(&host, 2)), "fourth\n");
}

#[test]
fn the_rest_of_a_file_is_read_before_moving_to_the_next() {
    let host = Fake::default();
    host.start_task();
    let mut s = start(&host, "logs", "task=web&type=stdout&follow=true&plain=true");
    assert_eq!(text(s.next(&host, 0)), "hello\n");
    // Written after our read reached EOF, just before the writer rotated.
    host.append(LOG, b"last words\n");
    host.append("alloc/logs/web.stdout.1", b"next file\n");
    assert_eq!(text(s.next(&host, 1)), "last words\nnext file\n");
}

#[test]
fn logs_tail_by_lines() {
    let host = Fake::default();
    host.start_task();
    host.set(LOG, b"a\nb\n");
    host.append("alloc/logs/web.stdout.1", b"c\nd");
    let tail = |n: &str| {
        let mut s = start(
            &host,
            "logs",
            &format!("task=web&type=stdout&plain=true&lines={n}"),
        );
        let mut out = String::new();
        while let Step::Data(d) = s.next(&host, 0) {
            out.push_str(std::str::from_utf8(&d).unwrap());
        }
        out
    };
    assert_eq!(tail("1"), "d");
    assert_eq!(tail("2"), "c\nd");
    assert_eq!(tail("3"), "b\nc\nd");
    assert_eq!(tail("10"), "a\nb\nc\nd");
    assert_eq!(tail("0"), "");
}

#[test]
fn logs_errors_match_nomad() {
    let host = Fake::default();
    assert_eq!(
        error(&host, "logs", "type=stdout"),
        (400, "must provide task name".into())
    );
    assert_eq!(
        error(&host, "logs", "task=web"),
        (400, "must provide log type (stdout/stderr)".into())
    );
    assert_eq!(
        error(&host, "logs", "task=web&type=stdin"),
        (400, "must provide log type (stdout/stderr)".into())
    );
    assert_eq!(
        error(&host, "logs", "task=web&type=stdout&plain=x"),
        (400, r#"failed to parse plain field to boolean: strconv.ParseBool: parsing "x": invalid syntax"#.into())
    );
    assert_eq!(
        error(&host, "logs", "task=db&type=stdout"),
        (400, r#"unknown task name "db""#.into())
    );
    assert_eq!(
        error(&host, "logs", "task=web&type=stdout"),
        (
            404,
            r#"task "web" not started yet. No logs available"#.into()
        )
    );
    host.start_task();
    assert_eq!(
        error(&host, "logs", "task=web&type=stderr"),
        (
            404,
            r#"log entry for task "web" and log type "stderr" not found"#.into()
        )
    );
    assert_eq!(
        error(&host, "logs", "task=web&type=stdout&lines=-1"),
        (400, "lines must not be negative".into())
    );
}

fn frame(data: &[u8], file: &str, event: Option<&str>, offset: u64) -> String {
    let mut out = Vec::new();
    encode_frame(&mut out, data, file, event, offset);
    String::from_utf8(out).unwrap()
}

#[test]
fn frames_match_nomads_encoding() {
    assert_eq!(
        frame(b"hello", "alloc/logs/web.stdout.0", None, 40),
        r#"{"Data":"aGVsbG8=","File":"alloc/logs/web.stdout.0","Offset":40}"#
    );
    assert_eq!(
        frame(b"", "x", Some(FILE_DELETED), 7),
        r#"{"File":"x","FileEvent":"file deleted","Offset":7}"#
    );
    assert_eq!(
        frame(b"", "x", Some(FILE_TRUNCATED), 0),
        r#"{"File":"x","FileEvent":"file truncated"}"#
    );
    assert_eq!(frame(b"", "", None, 0), "{}");
    assert_eq!(
        frame(b"a", "we\"ird}", None, 1),
        r#"{"Data":"YQ==","File":"we\"ird}","Offset":1}"#
    );
}
