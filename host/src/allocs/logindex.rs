//! When each part of a task's log arrived: an index beside every log file, written by
//! logmon as it writes, read for `fs/logs?since=…&until=…&timestamps=true&type=all`.
//!
//! `alloc/logs/<task>.<type>.<N>` has its index in
//! `<task>/private/logindex/<task>.<type>.<N>.idx`: out of every fs route's sight (`fs/ls
//! alloc/logs` lists log files only, as Nomad's; reads under `private/` are refused), and
//! collected with the allocation directory. Agents before 0.1 (issue 30) wrote it to
//! `alloc/logs/.index/`: readers look there too ([`index_paths`]), and the next run of the
//! task moves those indexes over ([`migrate`]), so an upgraded agent keeps every time.
//!
//! The format is fixed-size, so a crash can only leave a torn last record, which readers
//! ignore:
//!
//! - a 16-byte header: `CRVNLOGT`, then the version (1) and the record size (16) as
//!   little-endian `u32`s;
//! - records of 16 bytes: the byte offset in the log file (`u64`) where a chunk read from
//!   the task's pipe starts, and the time it was read, in Unix nanoseconds (`i64`), both
//!   little-endian. The bytes from one record's offset to the next's arrived at its time.
//!
//! A record is written before its bytes, so a reader never sees bytes without their time.
//! A record whose time equals the previous one's is skipped, and at most [`MAX_RECORDS`]
//! are written per file (1 MiB); past that, later bytes count as arriving at the last
//! recorded time. A log file without an index (written before indexes existed, or whose
//! index could not be created) is still served, without times.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// The directory of indexes, inside a task's `private/`.
pub const INDEX_DIR: &str = "logindex";
/// Where agents before issue 30 kept them, inside the logs directory.
pub const LEGACY_DIR: &str = ".index";
const MAGIC: &[u8; 8] = b"CRVNLOGT";
const VERSION: u32 = 1;
const HEADER: u64 = 16;
const RECORD: u64 = 16;
/// Most records in one index file.
pub const MAX_RECORDS: u64 = 65_536;
/// Records read from the file at once.
const BATCH: u64 = 1024;

/// Where a log file's index may be, relative to the allocation directory, for a log
/// file's path there (`alloc/logs/<task>.<type>.<N>` of one of `tasks`): its own task's
/// `private/logindex/`, then the legacy `alloc/logs/.index/`. Empty for anything else.
pub fn index_paths(log_path: &str, tasks: &[String]) -> Vec<String> {
    let Some(name) = log_path
        .trim_start_matches('/')
        .strip_prefix("alloc/logs/")
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
    else {
        return Vec::new();
    };
    let task = name
        .rsplit_once('.')
        .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(base, _)| {
            base.strip_suffix(".stdout")
                .or_else(|| base.strip_suffix(".stderr"))
        })
        .filter(|task| tasks.iter().any(|t| t == task));
    let legacy = format!("alloc/logs/{LEGACY_DIR}/{name}.idx");
    match task {
        Some(task) => vec![format!("{task}/private/{INDEX_DIR}/{name}.idx"), legacy],
        None => vec![legacy],
    }
}

/// The index file's name for log file `<base>.<index>`.
fn file_name(base: &str, index: u64) -> String {
    format!("{base}.{index}.idx")
}

/// Appends records to one log file's index. Failing to index never fails logging: the
/// writer then records nothing and that file is served without times.
#[derive(Debug)]
pub struct IndexWriter {
    file: Option<File>,
    records: u64,
    last_nanos: Option<i64>,
}

impl IndexWriter {
    /// Start the index of the (new, empty) log file `<base>.<index>` in `index_dir`,
    /// replacing any stale index of that name. Symlinks are never followed: tasks can write
    /// to their own directory.
    pub fn create(index_dir: &Path, base: &str, index: u64) -> Self {
        let file = match open_index(index_dir, &file_name(base, index)) {
            Ok(file) => Some(file),
            Err(err) => {
                tracing::warn!(
                    "no arrival times for {base}.{index} in {}: {err}",
                    index_dir.display()
                );
                None
            }
        };
        Self {
            file,
            records: 0,
            last_nanos: None,
        }
    }

    /// Record that the bytes from `offset` on arrive at `nanos`.
    pub fn mark(&mut self, offset: u64, nanos: i64) {
        if self.last_nanos == Some(nanos) || self.records >= MAX_RECORDS {
            return;
        }
        let Some(file) = &mut self.file else {
            return;
        };
        let mut record = [0u8; RECORD as usize];
        record[..8].copy_from_slice(&offset.to_le_bytes());
        record[8..].copy_from_slice(&nanos.to_le_bytes());
        if let Err(err) = file.write_all(&record) {
            tracing::warn!(
                "failed to write a log index record, no more times for this file: {err}"
            );
            self.file = None;
            return;
        }
        self.records += 1;
        self.last_nanos = Some(nanos);
    }
}

/// Create `<index_dir>/<name>` afresh with its header.
fn open_index(index_dir: &Path, name: &str) -> io::Result<File> {
    match rustix::fs::mkdir(index_dir, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(err) => return Err(err.into()),
    }
    let dir_fd = rustix::fs::open(
        index_dir,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )?;
    let fd = rustix::fs::openat(
        &dir_fd,
        name,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::APPEND
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut header = [0u8; HEADER as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..].copy_from_slice(&(RECORD as u32).to_le_bytes());
    file.write_all(&header)?;
    Ok(file)
}

/// Remove the indexes of `<base>.<N>` in `index_dir` below the lowest kept log file
/// `keep_from`: they go with their files (and any a crash left between removing a log and
/// its index).
pub fn purge(index_dir: &Path, base: &str, keep_from: u64) {
    for (n, name) in indexes(index_dir, base) {
        if n < keep_from
            && let Err(err) = std::fs::remove_file(index_dir.join(&name))
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("failed to remove an old log index: {err}");
        }
    }
}

/// Move `<base>.<N>.idx` from the legacy `<logs_dir>/.index/` into `index_dir`, then remove
/// the legacy directory once it is empty. Called when a run starts: no writer of `base`
/// is left then (a running executor of an older agent writes only its own run's files).
/// Best effort: an index left behind is still read from where it is.
pub fn migrate(logs_dir: &Path, index_dir: &Path, base: &str) {
    let legacy = logs_dir.join(LEGACY_DIR);
    let found = indexes(&legacy, base);
    if found.is_empty() {
        return;
    }
    if let Err(err) = std::fs::create_dir_all(index_dir) {
        tracing::warn!("failed to create {}: {err}", index_dir.display());
        return;
    }
    for (_, name) in found {
        if let Err(err) = std::fs::rename(legacy.join(&name), index_dir.join(&name)) {
            tracing::warn!("failed to move a log index out of alloc/logs: {err}");
        }
    }
    // Fails while another task's indexes are still there: the last one removes it.
    let _ = std::fs::remove_dir(&legacy);
}

/// The indexes of `<base>.<N>` in `dir`: `(N, file name)`.
fn indexes(dir: &Path, base: &str) -> Vec<(u64, std::ffi::OsString)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n = name
                .to_str()
                .and_then(|n| n.strip_prefix(base))
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(".idx"))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())?;
            Some((n, name))
        })
        .collect()
}

/// The records covering bytes `from..to` of the log file: the last at or before `from`,
/// then every later one before `to`, as `(offset, unix nanos)`. `None` when the file is not
/// an index (a torn or foreign header). A torn last record is ignored.
pub fn covering(file: &File, from: u64, to: u64) -> io::Result<Option<Vec<(u64, i64)>>> {
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER as usize];
    if len < HEADER || read_exact_at(file, &mut header, 0).is_err() {
        return Ok(None);
    }
    if &header[..8] != MAGIC
        || header[8..12] != VERSION.to_le_bytes()
        || header[12..] != (RECORD as u32).to_le_bytes()
    {
        return Ok(None);
    }
    let count = ((len - HEADER) / RECORD).min(MAX_RECORDS);
    let record = |i: u64| -> io::Result<(u64, i64)> {
        let mut buf = [0u8; RECORD as usize];
        read_exact_at(file, &mut buf, HEADER + i * RECORD)?;
        Ok(decode(&buf))
    };
    // The first record past `from`, by binary search; the one before it covers `from`.
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if record(mid)?.0 <= from {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut i = lo.saturating_sub(1);
    let mut out = Vec::new();
    while i < count {
        let n = BATCH.min(count - i);
        let mut buf = vec![0u8; (n * RECORD) as usize];
        read_exact_at(file, &mut buf, HEADER + i * RECORD)?;
        for chunk in buf.chunks_exact(RECORD as usize) {
            let (offset, nanos) = decode(chunk);
            if offset > from && offset >= to {
                return Ok(Some(out));
            }
            out.push((offset, nanos));
        }
        i += n;
    }
    Ok(Some(out))
}

fn decode(buf: &[u8]) -> (u64, i64) {
    let offset = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
    let nanos = i64::from_le_bytes(buf[8..16].try_into().unwrap_or_default());
    (offset, nanos)
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

#[cfg(test)]
mod tests;
