//! Streamed bodies of `fs/stream` and `fs/logs`: Nomad's frames, heartbeats, file events
//! and the walk across rotated log files, as a state machine the host pulls.
//!
//! Each pull reads what is there (up to a budget), and otherwise tells the host how long
//! it may wait; the host wakes the stream early when a watched path changes. Time comes in
//! as an argument, so the machine is pure and testable with a fake host.

use base64::Engine as _;

use crate::host::{FsError, Host};
use crate::log_files::{LOG_DIR, LogFiles};

/// Most data bytes in one frame (Nomad's frame size).
pub const FRAME_SIZE: u32 = 64 * 1024;
/// Bytes gathered in one pull before handing them to the host.
const PULL_BUDGET: usize = 1 << 20;
/// Nomad sends a heartbeat frame every second.
const HEARTBEAT_MS: u64 = 1_000;

pub const FILE_DELETED: &str = "file deleted";
pub const FILE_TRUNCATED: &str = "file truncated";

/// What one pull yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Data(Vec<u8>),
    Wait(u32),
    End,
}

/// Where the bytes come from.
#[derive(Debug)]
pub enum Source {
    /// `fs/stream`: one file; `shown` is the `path` parameter exactly as given.
    File {
        path: String,
        shown: String,
        inode: u64,
    },
    /// `fs/logs`: the rotated files of one task's stdout or stderr, `index` being current.
    Logs { files: LogFiles, index: u64 },
}

/// A streamed response body.
pub struct Stream<W> {
    alloc_id: String,
    source: Source,
    offset: u64,
    follow: bool,
    plain: bool,
    pending_event: Option<&'static str>,
    next_heartbeat_ms: Option<u64>,
    watch: Option<W>,
    ended: bool,
}

impl<W> Stream<W> {
    pub fn new(alloc_id: String, source: Source, offset: u64, follow: bool, plain: bool) -> Self {
        Self {
            alloc_id,
            source,
            offset,
            follow,
            plain,
            pending_event: None,
            next_heartbeat_ms: None,
            watch: None,
            ended: false,
        }
    }

    /// The next part of the body.
    pub fn next(&mut self, host: &impl Host<Watch = W>, now_ms: u64) -> Step {
        if self.ended {
            return Step::End;
        }
        let next_heartbeat = *self.next_heartbeat_ms.get_or_insert(now_ms + HEARTBEAT_MS);
        if self.follow && self.watch.is_none() {
            // Watch before reading, so a change right after the read still wakes us.
            self.watch = host.watch(&self.alloc_id, &self.watched_path()).ok();
        }
        let mut out = Vec::new();
        if now_ms >= next_heartbeat {
            self.next_heartbeat_ms = Some(now_ms + HEARTBEAT_MS);
            if !self.plain {
                out.extend_from_slice(b"{}");
            }
        }
        loop {
            let path = self.current_path();
            match host.read_at(&self.alloc_id, &path, self.offset, FRAME_SIZE) {
                Ok(data) if !data.is_empty() => {
                    self.offset += data.len() as u64;
                    let event = self.pending_event.take();
                    self.encode(&mut out, &data, event);
                    if out.len() >= PULL_BUDGET {
                        return Step::Data(out);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(FsError::NotFound) => {}
                Err(err) => return self.fail(out, &err),
            }
            if let Some(event) = self.pending_event.take() {
                self.encode(&mut out, &[], Some(event));
            }
            match self.at_end_of_file(host) {
                Progress::Moved => continue,
                Progress::Deleted => {
                    self.ended = true;
                    if !self.plain {
                        self.encode(&mut out, &[], Some(FILE_DELETED));
                    }
                    return if out.is_empty() {
                        Step::End
                    } else {
                        Step::Data(out)
                    };
                }
                Progress::Idle => {}
            }
            if !self.follow {
                self.ended = true;
                return if out.is_empty() {
                    Step::End
                } else {
                    Step::Data(out)
                };
            }
            if !out.is_empty() {
                return Step::Data(out);
            }
            let now_next = self.next_heartbeat_ms.unwrap_or(now_ms + HEARTBEAT_MS);
            return Step::Wait(now_next.saturating_sub(now_ms).clamp(1, HEARTBEAT_MS) as u32);
        }
    }

    /// At end of file: has the file been truncated, deleted or (logs) followed by a newer one?
    fn at_end_of_file(&mut self, host: &impl Host) -> Progress {
        match &mut self.source {
            Source::File { path, inode, .. } => match host.stat(&self.alloc_id, path) {
                Ok(info) if info.inode != *inode => Progress::Deleted,
                Ok(info) if info.size < self.offset => {
                    self.offset = 0;
                    self.pending_event = Some(FILE_TRUNCATED);
                    Progress::Moved
                }
                Ok(_) => Progress::Idle,
                Err(_) => Progress::Deleted,
            },
            Source::Logs { files, index } => {
                let Ok(listing) = files.list(host, &self.alloc_id) else {
                    return Progress::Idle;
                };
                let current = listing.iter().find(|f| f.index == *index);
                if let Some(next) = listing
                    .iter()
                    .map(|f| f.index)
                    .filter(|i| *i > *index)
                    .min()
                {
                    // The writer finished this file before it created the next one: drain
                    // what it added since our last read, then move on (Nomad, too, reads to
                    // EOF once more when it sees the next file).
                    if current.is_none_or(|f| f.size <= self.offset) {
                        *index = next;
                        self.offset = 0;
                    }
                    return Progress::Moved;
                }
                match current {
                    Some(current) if current.size < self.offset => {
                        self.offset = 0;
                        self.pending_event = Some(FILE_TRUNCATED);
                        Progress::Moved
                    }
                    _ => Progress::Idle,
                }
            }
        }
    }

    /// A read failed mid-stream: as Nomad, the error text follows whatever was sent.
    fn fail(&mut self, mut out: Vec<u8>, err: &FsError) -> Step {
        self.ended = true;
        let message = match err {
            FsError::SecretFile => format!("Reading secret file prohibited: {}", self.shown_path()),
            FsError::PrivateFile => {
                format!("Reading private file prohibited: {}", self.shown_path())
            }
            other => format!("failed to stream {:?}: {other:?}", self.shown_path()),
        };
        out.extend_from_slice(message.as_bytes());
        Step::Data(out)
    }

    fn current_path(&self) -> String {
        match &self.source {
            Source::File { path, .. } => path.clone(),
            Source::Logs { files, index } => files.path(*index),
        }
    }

    fn shown_path(&self) -> String {
        match &self.source {
            Source::File { shown, .. } => shown.clone(),
            Source::Logs { files, index } => files.path(*index),
        }
    }

    fn watched_path(&self) -> String {
        match &self.source {
            Source::File { path, .. } => path.clone(),
            Source::Logs { .. } => LOG_DIR.to_string(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>, data: &[u8], event: Option<&str>) {
        if self.plain {
            out.extend_from_slice(data);
        } else {
            encode_frame(out, data, &self.shown_path(), event, self.offset);
        }
    }
}

enum Progress {
    /// Reading can go on (next log file, or from 0 after truncation).
    Moved,
    /// The file is gone or replaced: the stream ends.
    Deleted,
    /// Nothing new.
    Idle,
}

/// One `StreamFrame` as go-msgpack writes it: keys sorted, empty fields omitted, compact.
/// Written by hand straight into the output: it is the hot path of every stream.
pub fn encode_frame(out: &mut Vec<u8>, data: &[u8], file: &str, event: Option<&str>, offset: u64) {
    out.push(b'{');
    let mut comma = false;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if comma {
            out.push(b',');
        }
        comma = true;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    if !data.is_empty() {
        key(out, "Data");
        out.push(b'"');
        let start = out.len();
        out.resize(
            start + base64::encoded_len(data.len(), true).unwrap_or(0),
            0,
        );
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(data, &mut out[start..])
            .unwrap_or(0);
        out.truncate(start + written);
        out.push(b'"');
    }
    if !file.is_empty() {
        key(out, "File");
        let mut quoted = String::new();
        crate::json::write_string(&mut quoted, file);
        out.extend_from_slice(quoted.as_bytes());
    }
    if let Some(event) = event {
        key(out, "FileEvent");
        out.push(b'"');
        out.extend_from_slice(event.as_bytes());
        out.push(b'"');
    }
    if offset != 0 {
        key(out, "Offset");
        out.extend_from_slice(offset.to_string().as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{ALLOC, Fake};
    use crate::http::{Action, Request};

    /// What the core decides for `GET /v1/client/fs/<op>/<alloc>?<query>`.
    fn call(host: &Fake, op: &str, query: &str) -> Action<Stream<()>> {
        let req = Request {
            method: "GET".into(),
            path: format!("/v1/client/fs/{op}/{ALLOC}"),
            query: query.into(),
            ..Request::default()
        };
        crate::handle(host, &req)
    }

    fn start(host: &Fake, op: &str, query: &str) -> Stream<()> {
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
}
