//! `fs/logs`: parameters, Nomad's `findClosest` for where to start among a task's rotated
//! log files, and the opt-in `lines=N` tail.

use crate::acl::access::Access;
use crate::fs::log_files::{LogFile, LogFiles};
use crate::fs::logtime::{self, LineOptions};
use crate::fs::params;
use crate::fs::stream::lines::{LineStream, LogSource};
use crate::fs::stream::{FRAME_SIZE, Source, Stream};
use crate::host::{Allocation, Host};
use crate::http::{ApiError, ApiResult};
use crate::wire::params::{Query, go_quote};

/// Nomad's `findClosest`: from the first file at or after `desired` (else the last), walk
/// `offset` bytes forward (positive) or backward (negative) across files.
pub fn find_closest(files: &[LogFile], desired: u64, offset: i64) -> Option<(u64, u64)> {
    let last = files.len().checked_sub(1)?;
    let mut i = files
        .iter()
        .position(|f| f.index >= desired)
        .unwrap_or(last);
    let mut offset = offset;
    loop {
        let size = i64::try_from(files[i].size).unwrap_or(i64::MAX);
        if offset == 0 {
            break;
        } else if offset < 0 {
            let moved = size + offset;
            if moved >= 0 {
                offset = moved;
                break;
            } else if i == 0 {
                offset = 0;
                break;
            }
            offset = moved;
            i -= 1;
        } else if offset <= size {
            break;
        } else if i == last {
            offset = size;
            break;
        } else {
            offset -= size;
            i += 1;
        }
    }
    Some((files[i].index, offset as u64))
}

/// Where the last `lines` lines begin, counting across rotated files from the end. A final
/// line without a newline counts as a line.
fn tail_start(
    host: &impl Host,
    alloc_id: &str,
    logs: &LogFiles,
    files: &[LogFile],
    lines: u64,
) -> (u64, u64) {
    let first = files.first().map_or((0, 0), |f| (f.index, 0));
    if lines == 0 {
        return files.last().map_or(first, |f| (f.index, f.size));
    }
    let mut found = 0;
    let mut skip_final_newline = true;
    for file in files.iter().rev() {
        let mut end = file.size;
        while end > 0 {
            let start = end.saturating_sub(u64::from(FRAME_SIZE));
            let Ok(chunk) = host.read_at(
                alloc_id,
                &logs.path(file.index),
                start,
                (end - start) as u32,
            ) else {
                return first;
            };
            for (i, byte) in chunk.iter().enumerate().rev() {
                if skip_final_newline {
                    skip_final_newline = false;
                    if *byte == b'\n' {
                        continue;
                    }
                }
                if *byte == b'\n' {
                    found += 1;
                    if found == lines {
                        return (file.index, start + i as u64 + 1);
                    }
                }
            }
            end = start;
        }
    }
    first
}

/// Start `fs/logs`: validate as Nomad does (alloc id → task → follow → plain → type →
/// offset → origin), then find the starting file and offset.
pub fn start<W, L>(
    host: &impl Host<Watch = W>,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<(Stream<W, L>, bool)> {
    let task = query
        .get("task")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("must provide task name"))?;
    let follow = params::flag(query, "follow", false)?;
    let plain = params::flag(query, "plain", false)?;
    let kind = match query.get("type") {
        Some(kind @ ("stdout" | "stderr" | "all")) => kind,
        _ => {
            return Err(ApiError::bad_request(
                "must provide log type (stdout/stderr)",
            ));
        }
    };
    let offset = params::offset(query)?;
    let origin_end = params::origin_is_end(query)?;
    let lines = match query.get("lines").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            u64::try_from(params::int_param(l, "lines")?)
                .map_err(|_| ApiError::bad_request("lines must not be negative"))?,
        ),
    };
    let options = logtime::options(host, query, kind == "all")?;
    let allocation = access.allocation(host, alloc_id)?;
    check_task(&allocation, task)?;
    if options != LineOptions::default() {
        let position = Position {
            offset,
            origin_end,
            lines,
        };
        let stream = line_stream(
            host,
            alloc_id,
            task,
            kind,
            options,
            position,
            (follow, plain),
        )?;
        return Ok((Stream::Lines(Box::new(stream)), plain));
    }
    let logs = LogFiles::new(task, kind);
    let files = logs.list(host, alloc_id)?;
    if files.is_empty() {
        return Err(ApiError::not_found(format!(
            "log entry for task {} and log type {} not found",
            go_quote(task),
            go_quote(kind)
        )));
    }
    let (index, start_offset) = match lines {
        Some(lines) => tail_start(host, alloc_id, &logs, &files, lines),
        None if origin_end => {
            find_closest(&files, u64::MAX, offset.saturating_neg()).unwrap_or((0, 0))
        }
        None => find_closest(&files, 0, offset).unwrap_or((0, 0)),
    };
    let source = Source::Logs { files: logs, index };
    Ok((
        Stream::new(alloc_id.to_string(), source, start_offset, follow, plain),
        plain,
    ))
}

/// Where reading starts: Nomad's `origin`/`offset`, or caravan's `lines` tail.
struct Position {
    offset: i64,
    origin_end: bool,
    lines: Option<u64>,
}

/// `fs/logs` with caravan's extensions: each stream starts at `origin`/`offset` as Nomad's
/// (per stream with `type=all`), or at the last `lines` lines shown.
fn line_stream<W>(
    host: &impl Host,
    alloc_id: &str,
    task: &str,
    kind: &str,
    options: LineOptions,
    position: Position,
    (follow, plain): (bool, bool),
) -> ApiResult<LineStream<W>> {
    let kinds: &[&str] = if kind == "all" {
        &["stdout", "stderr"]
    } else {
        std::slice::from_ref(&kind)
    };
    let mut sources = Vec::new();
    let mut any = false;
    for kind in kinds {
        let files = LogFiles::new(task, kind).list(host, alloc_id)?;
        any |= !files.is_empty();
        let (index, start) = match position.lines {
            Some(_) => files.first().map_or((0, 0), |f| (f.index, 0)),
            None if position.origin_end => {
                find_closest(&files, u64::MAX, position.offset.saturating_neg()).unwrap_or((0, 0))
            }
            None => find_closest(&files, 0, position.offset).unwrap_or((0, 0)),
        };
        sources.push(LogSource::new(task, kind, index, start));
    }
    if !any {
        return Err(ApiError::not_found(format!(
            "log entry for task {} and log type {} not found",
            go_quote(task),
            go_quote(kind)
        )));
    }
    let mut stream = LineStream::new(alloc_id, task, sources, options, follow, plain);
    if let Some(lines) = position.lines {
        stream.seek_tail(host, lines);
    }
    Ok(stream)
}

fn check_task(allocation: &Allocation, task: &str) -> ApiResult<()> {
    let Some(state) = allocation.tasks.iter().find(|t| t.name == task) else {
        return Err(ApiError::bad_request(format!(
            "unknown task name {}",
            go_quote(task)
        )));
    };
    if state.started_at.is_none() {
        return Err(ApiError::not_found(format!(
            "task {} not started yet. No logs available",
            go_quote(task)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
