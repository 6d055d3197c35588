//! `fs/logs` line by line, for caravan's extensions (`since`, `until`, `timestamps`,
//! `type=all`, `until_exit`): each line gets the time the host recorded for its first byte
//! (`filesystem.log-marks`), is kept or left out by the time window, prefixed, and, with
//! `type=all`, merged with the other stream's lines by time.
//!
//! With a prefix (`timestamps`, `type=all`), a line without a newline (an unfinished last
//! line, a cut piece) gets one, so that each output line has one prefix; without, the bytes
//! are the file's. A line is read whole before it is sent: an unfinished last line waits for its newline,
//! for the next file (a rotated file's end ends its line) or for the end of the stream
//! (without `follow`, or when `until_exit` or `until` closes it). A line longer than
//! [`LINE_MAX`] is cut into pieces, each sent as a line, so a line and its prefix fit in
//! one frame. Frames carry one file's lines each: `File` is that file, `Offset` the file
//! position after the frame's last line.

use std::collections::VecDeque;

use super::{FRAME_SIZE, HEARTBEAT_MS, PULL_BUDGET, READ_SIZE, Step, encode_frame, settle};
use crate::fs::log_files::{LOG_DIR, LogFiles};
use crate::fs::logtime::LineOptions;
use crate::host::{FsError, Host, LogMark, TaskStatus};

/// The longest piece of a line sent at once.
pub const LINE_MAX: usize = FRAME_SIZE as usize - 64;

/// One task's stdout or stderr, read line by line from a position.
#[derive(Debug)]
pub struct LogSource {
    kind: String,
    files: LogFiles,
    index: u64,
    offset: u64,
    queue: VecDeque<Line>,
    /// Nothing more to read now (reset at each pull).
    idle: bool,
    /// Past `until`: nothing more will ever be shown from it.
    done: bool,
}

#[derive(Debug)]
pub(super) struct Line {
    pub(super) index: u64,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) time: Option<i64>,
    pub(super) bytes: Vec<u8>,
}

impl LogSource {
    /// `kind`'s files (`stdout` or `stderr`), read from `offset` of file `index`.
    pub fn new(task: &str, kind: &str, index: u64, offset: u64) -> Self {
        Self {
            kind: kind.to_string(),
            files: LogFiles::new(task, kind),
            index,
            offset,
            queue: VecDeque::new(),
            idle: false,
            done: false,
        }
    }

    /// The next line's arrival time (`Some(None)`: a line without one), reading more first
    /// when none is queued; `None` when there is no line now. `partial_ends` as in `fill`.
    pub(super) fn head(
        &mut self,
        host: &impl Host,
        alloc_id: &str,
        partial_ends: bool,
    ) -> Result<Option<Option<i64>>, (String, FsError)> {
        if self.queue.is_empty() && !self.idle && !self.done {
            self.idle = !self.fill(host, alloc_id, partial_ends)?;
        }
        Ok(self.queue.front().map(|line| line.time))
    }

    /// The line [`LogSource::head`] told of.
    pub(super) fn take(&mut self) -> Option<Line> {
        self.queue.pop_front()
    }

    /// Read again at the next [`LogSource::head`] (a new pull).
    pub(super) fn rouse(&mut self) {
        self.idle = false;
    }

    /// The file a line of this source was read from.
    pub(super) fn path_of(&self, line: &Line) -> String {
        self.files.path(line.index)
    }

    /// Read the next complete lines into the queue; `false` when there are none now.
    /// `partial_ends`: an unfinished last line at the end of the data counts as a line.
    fn fill(
        &mut self,
        host: &impl Host,
        alloc_id: &str,
        partial_ends: bool,
    ) -> Result<bool, (String, FsError)> {
        // Bounded: each round moves to a newer file, restarts a truncated one, or reads.
        for _ in 0..64 {
            let path = self.files.path(self.index);
            let data = match host.read_at(alloc_id, &path, self.offset, READ_SIZE) {
                Ok(data) => data,
                Err(FsError::NotFound) => Vec::new(),
                Err(err) => return Err((path, err)),
            };
            let at_end = data.len() < READ_SIZE as usize;
            if self.take_lines(host, alloc_id, &path, &data, partial_ends && at_end) {
                return Ok(true);
            }
            // Nothing whole here: a newer file, a truncation, or nothing yet.
            let Ok((current, newer)) = self.files.around(host, alloc_id, self.index) else {
                return Ok(false);
            };
            match (newer, current) {
                (Some(next), current) if current.is_none_or(|f| f.size <= self.offset) => {
                    self.index = next;
                    self.offset = 0;
                }
                // The writer finished this file before it started the next: its last
                // line is over.
                (Some(_), Some(_)) => {
                    let data = match host.read_at(alloc_id, &path, self.offset, READ_SIZE) {
                        Ok(data) => data,
                        Err(err) => return Err((path, err)),
                    };
                    let at_end = data.len() < READ_SIZE as usize;
                    if self.take_lines(host, alloc_id, &path, &data, at_end) {
                        return Ok(true);
                    }
                    return Ok(false);
                }
                (None, Some(f)) if f.size < self.offset => self.offset = 0,
                _ => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Queue the lines of `data` (read at `self.offset` of `path`) with their times.
    fn take_lines(
        &mut self,
        host: &impl Host,
        alloc_id: &str,
        path: &str,
        data: &[u8],
        tail_is_line: bool,
    ) -> bool {
        let pieces = split(data, tail_is_line);
        let Some(&(_, consumed)) = pieces.last() else {
            return false;
        };
        let from = self.offset;
        let marks = host
            .log_marks(alloc_id, path, from, from + consumed as u64)
            .unwrap_or_default();
        for (a, b) in pieces {
            self.queue.push_back(Line {
                index: self.index,
                start: from + a as u64,
                end: from + b as u64,
                time: time_at(&marks, from + a as u64),
                bytes: data[a..b].to_vec(),
            });
        }
        self.offset = from + consumed as u64;
        true
    }
}

/// The lines of `data` as ranges: each up to and including its newline, cut at
/// [`LINE_MAX`]; the unfinished rest only when `tail_is_line` (or as long as a cut piece).
fn split(data: &[u8], tail_is_line: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let cut = |start: &mut usize, end: usize, out: &mut Vec<(usize, usize)>| {
        while end - *start > LINE_MAX {
            out.push((*start, *start + LINE_MAX));
            *start += LINE_MAX;
        }
    };
    for (i, _) in data.iter().enumerate().filter(|(_, b)| **b == b'\n') {
        cut(&mut start, i + 1, &mut out);
        out.push((start, i + 1));
        start = i + 1;
    }
    cut(&mut start, data.len(), &mut out);
    if data.len() - start == LINE_MAX || (tail_is_line && start < data.len()) {
        out.push((start, data.len()));
    }
    out
}

/// The time of the byte at `offset`: the last mark at or before it.
fn time_at(marks: &[LogMark], offset: u64) -> Option<i64> {
    marks
        .iter()
        .rev()
        .find(|m| m.offset <= offset)
        .map(|m| m.time.unix_nanos())
}

/// The body of `fs/logs` with any of caravan's extensions.
pub struct LineStream<W> {
    alloc_id: String,
    task: String,
    sources: Vec<LogSource>,
    options: LineOptions,
    follow: bool,
    plain: bool,
    /// `until_exit` saw the task exited, or the clock passed `until`, before this pull
    /// read: what it reads is everything, and then the stream ends.
    closing: bool,
    next_heartbeat_ms: Option<u64>,
    watch: Option<W>,
    ended: bool,
}

/// The frame being gathered: one file's lines.
#[derive(Default)]
struct Pending {
    path: String,
    data: Vec<u8>,
    end: u64,
}

impl<W> LineStream<W> {
    /// A line stream of one task's log `sources` (stdout, stderr or both).
    pub fn new(
        alloc_id: &str,
        task: &str,
        sources: Vec<LogSource>,
        options: LineOptions,
        follow: bool,
        plain: bool,
    ) -> Self {
        Self {
            alloc_id: alloc_id.to_string(),
            task: task.to_string(),
            sources,
            options,
            follow,
            plain,
            closing: false,
            next_heartbeat_ms: None,
            watch: None,
            ended: false,
        }
    }

    /// Start at the last `lines` lines that would be shown, counted over what is there now
    /// (reading it once, from where the sources start).
    pub fn seek_tail(&mut self, host: &impl Host, lines: u64) {
        let mut last: VecDeque<(usize, u64, u64)> = VecDeque::new();
        while let Ok(Some((i, line))) = self.pop(host) {
            if self.options.shows(line.time) && lines > 0 {
                if last.len() as u64 == lines {
                    last.pop_front();
                }
                last.push_back((i, line.index, line.start));
            }
        }
        for (i, source) in self.sources.iter_mut().enumerate() {
            if let Some(&(_, index, start)) = last.iter().find(|(s, ..)| *s == i) {
                source.index = index;
                source.offset = start;
            }
            source.queue.clear();
            source.idle = false;
            source.done = false;
        }
    }

    /// The next line in arrival order among what can be read now; `None` when every
    /// source is idle or done.
    fn pop(&mut self, host: &impl Host) -> Result<Option<(usize, Line)>, (String, FsError)> {
        let partial_ends = !self.follow || self.closing;
        loop {
            for source in &mut self.sources {
                if source.queue.is_empty() && !source.idle && !source.done {
                    source.idle = !source.fill(host, &self.alloc_id, partial_ends)?;
                }
            }
            let pick = (0..self.sources.len())
                .filter_map(|i| {
                    let s = &self.sources[i];
                    let head = s.queue.front().filter(|_| !s.done)?;
                    Some((head.time.unwrap_or(i64::MIN), i))
                })
                .min();
            let Some((_, i)) = pick else {
                return Ok(None);
            };
            let source = &mut self.sources[i];
            let Some(line) = source.queue.pop_front() else {
                continue;
            };
            if let (Some(until), Some(t)) = (self.options.until, line.time)
                && t > until
            {
                source.done = true;
                source.queue.clear();
                continue;
            }
            return Ok(Some((i, line)));
        }
    }

    /// The next part of the body.
    pub fn next(&mut self, host: &impl Host<Watch = W>, now_ms: u64) -> Step {
        if self.ended {
            return Step::End;
        }
        let next_heartbeat = *self.next_heartbeat_ms.get_or_insert(now_ms + HEARTBEAT_MS);
        if self.follow && self.watch.is_none() {
            self.watch = host.watch(&self.alloc_id, LOG_DIR).ok();
        }
        let mut out = Vec::new();
        if now_ms >= next_heartbeat {
            self.next_heartbeat_ms = Some(now_ms + HEARTBEAT_MS);
            if !self.plain {
                out.extend_from_slice(b"{}");
            }
        }
        for source in &mut self.sources {
            source.idle = false;
        }
        if self.follow && !self.closing && self.closes(host) {
            // Everything written until now is on disk: read it all, then end.
            self.closing = true;
        }
        let mut pending = Pending::default();
        loop {
            match self.pop(host) {
                Ok(Some((i, line))) => {
                    if self.options.shows(line.time) {
                        self.emit(&mut out, &mut pending, i, &line);
                    }
                    if out.len() + pending.data.len() >= PULL_BUDGET {
                        self.flush(&mut out, &mut pending);
                        return Step::Data(out);
                    }
                    continue;
                }
                Ok(None) => {}
                Err((path, err)) => {
                    self.flush(&mut out, &mut pending);
                    self.ended = true;
                    out.extend_from_slice(format!("failed to stream {path:?}: {err}").as_bytes());
                    return Step::Data(out);
                }
            }
            self.flush(&mut out, &mut pending);
            let finished = self.sources.iter().all(|s| s.done);
            self.ended = finished || !self.follow || self.closing;
            return settle(out, self.ended, self.next_heartbeat_ms, now_ms);
        }
    }

    /// Whether a followed stream should end once what is there is sent: the task exited
    /// (`until_exit`), or the clock passed `until`.
    fn closes(&self, host: &impl Host) -> bool {
        let exited = || match host.allocation(&self.alloc_id) {
            None => true,
            Some(alloc) => alloc
                .tasks
                .iter()
                .find(|t| t.name == self.task)
                .is_none_or(|t| t.state == TaskStatus::Dead),
        };
        (self.options.until_exit && exited())
            || self
                .options
                .until
                .is_some_and(|u| host.now().unix_nanos() > u)
    }

    fn emit(&self, out: &mut Vec<u8>, pending: &mut Pending, i: usize, line: &Line) {
        let source = &self.sources[i];
        if self.plain {
            self.options.prefix(out, line.time, &source.kind);
            self.line_bytes(out, line);
            return;
        }
        let path = source.files.path(line.index);
        if pending.path != path || pending.data.len() + line.bytes.len() + 64 > FRAME_SIZE as usize
        {
            self.flush(out, pending);
            pending.path = path;
        }
        self.options
            .prefix(&mut pending.data, line.time, &source.kind);
        self.line_bytes(&mut pending.data, line);
        pending.end = line.end;
    }

    /// A line's bytes; with prefixes, always ending in a newline, so that every output
    /// line has exactly one prefix.
    fn line_bytes(&self, out: &mut Vec<u8>, line: &Line) {
        out.extend_from_slice(&line.bytes);
        if self.options.prefixes() && !line.bytes.ends_with(b"\n") {
            out.push(b'\n');
        }
    }

    fn flush(&self, out: &mut Vec<u8>, pending: &mut Pending) {
        if !pending.data.is_empty() {
            encode_frame(out, &pending.data, &pending.path, None, pending.end);
            pending.data.clear();
        }
    }
}

#[cfg(test)]
mod tests;
