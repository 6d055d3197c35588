//! Streamed bodies of `fs/stream` and `fs/logs`: Nomad's frames, heartbeats, file events
//! and the walk across rotated log files, as a state machine the host pulls.
//!
//! Each pull reads what is there (up to a budget), and otherwise tells the host how long
//! it may wait; the host wakes the stream early when a watched path changes. Time comes in
//! as an argument, so the machine is pure and testable with a fake host.

use crate::fs::listing::ListingBody;
use crate::fs::log_files::{LOG_DIR, LogFiles};
use crate::host::{FsError, Host};
// The pull result lives in the vocabulary, below `fs::listing`, which yields it too.
pub use crate::http::Step;

/// Most data bytes in one frame (Nomad's frame size).
pub const FRAME_SIZE: u32 = 64 * 1024;
/// Bytes gathered in one pull before handing them to the host.
pub(crate) const PULL_BUDGET: usize = 1 << 20;
/// Most bytes asked of the host in one `read-at`: several frames' worth, so a pull of a
/// file that has data crosses to the host once (each `read-at` resolves the path again)
/// instead of once per frame. Framed, this many bytes fill about one [`PULL_BUDGET`].
pub(crate) const READ_SIZE: u32 = 12 * FRAME_SIZE;
/// Nomad sends a heartbeat frame every second.
pub(crate) const HEARTBEAT_MS: u64 = 1_000;

/// The frame event Nomad sends when a followed file is removed.
pub const FILE_DELETED: &str = "file deleted";
/// The frame event Nomad sends when a followed file shrinks.
pub const FILE_TRUNCATED: &str = "file truncated";

/// Where the bytes come from.
#[derive(Debug)]
pub enum Source {
    /// `fs/stream`: one file; `shown` is the `path` parameter exactly as given.
    File {
        /// The file's path in the allocation directory, cleaned.
        path: String,
        /// The `path` parameter as given, which frames name.
        shown: String,
        /// The inode the stream started on: another one under the name is a new file.
        inode: u64,
    },
    /// `fs/logs`: the rotated files of one task's stdout or stderr, `index` being current.
    Logs {
        /// The task's log files.
        files: LogFiles,
        /// The rotation index being read.
        index: u64,
    },
}

/// A streamed response body: Nomad's byte stream, (`fs/logs` with caravan's extensions)
/// lines, or a directory listing too large to answer at once. `W` is the host's watch and
/// `L` its listing handle.
pub enum Stream<W, L> {
    /// Nomad's byte stream (`fs/stream`, `fs/logs`).
    Raw(RawStream<W>),
    /// `fs/logs` read by lines (caravan's time and line parameters).
    Lines(Box<lines::LineStream<W>>),
    /// A directory listing answered a page at a time.
    Listing(ListingBody<L>),
    /// A job's allocations, merged (`GET /v1/job/:job_id/logs`).
    Job(Box<job::JobStream<W>>),
}

impl<W, L> Stream<W, L> {
    /// A byte stream of `source` from `offset`; `follow` waits for more, `plain` sends bytes unframed.
    pub fn new(alloc_id: String, source: Source, offset: u64, follow: bool, plain: bool) -> Self {
        Self::Raw(RawStream::new(alloc_id, source, offset, follow, plain))
    }

    /// The next part of the body.
    pub fn next(&mut self, host: &impl Host<Watch = W, Listing = L>, now_ms: u64) -> Step {
        match self {
            Self::Raw(raw) => raw.next(host, now_ms),
            Self::Lines(lines) => lines.next(host, now_ms),
            Self::Listing(listing) => listing.next(host),
            Self::Job(job) => job.next(host, now_ms),
        }
    }
}

/// Nomad's byte stream of one file, or of one task's rotated log files.
pub struct RawStream<W> {
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

impl<W> RawStream<W> {
    /// A byte stream of `source` from `offset`; `follow` waits for more, `plain` sends bytes unframed.
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
            match host.read_at(&self.alloc_id, &path, self.offset, READ_SIZE) {
                Ok(data) if !data.is_empty() => {
                    // A short read ended at the end of the file as it was: a second read
                    // would only say so again (a write after it wakes the watch).
                    let at_end = data.len() < READ_SIZE as usize;
                    // Frames: the data in base64 plus each frame's keys and path.
                    let frames = data.len().div_ceil(FRAME_SIZE as usize);
                    out.reserve(if self.plain {
                        data.len()
                    } else {
                        data.len().div_ceil(3) * 4 + frames * (64 + self.shown_len())
                    });
                    for frame in data.chunks(FRAME_SIZE as usize) {
                        self.offset += frame.len() as u64;
                        let event = self.pending_event.take();
                        self.encode(&mut out, frame, event);
                    }
                    if out.len() >= PULL_BUDGET {
                        return Step::Data(out);
                    }
                    if !at_end {
                        continue;
                    }
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
            self.ended = !self.follow;
            return settle(out, self.ended, self.next_heartbeat_ms, now_ms);
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
                let Ok((current, newer)) = files.around(host, &self.alloc_id, *index) else {
                    return Progress::Idle;
                };
                if let Some(next) = newer {
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
            other => format!("failed to stream {:?}: {other}", self.shown_path()),
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

    fn shown_len(&self) -> usize {
        match &self.source {
            Source::File { shown, .. } => shown.len(),
            Source::Logs { .. } => 64,
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
        crate::wire::b64::encode_into(out, data);
        out.push(b'"');
    }
    if !file.is_empty() {
        key(out, "File");
        let mut quoted = String::new();
        crate::wire::json::write_string(&mut quoted, file);
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

pub mod job;
pub mod lines;
/// How a pull ends once it has read what it could: the stream's end (with any last data)
/// when it is `over`, else the data, else a wait until the next heartbeat is due.
fn settle(out: Vec<u8>, over: bool, next_heartbeat_ms: Option<u64>, now_ms: u64) -> Step {
    if over {
        return if out.is_empty() {
            Step::End
        } else {
            Step::Data(out)
        };
    }
    if !out.is_empty() {
        return Step::Data(out);
    }
    let due = next_heartbeat_ms.unwrap_or(now_ms + HEARTBEAT_MS);
    Step::Wait(due.saturating_sub(now_ms).clamp(1, HEARTBEAT_MS) as u32)
}

#[cfg(test)]
mod tests;
