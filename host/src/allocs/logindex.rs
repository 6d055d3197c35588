//! When each part of a task's log arrived: an index beside every log file, written by
//! logmon as it writes, read for `fs/logs?since=…&until=…&timestamps=true&type=all`.
//!
//! `alloc/logs/<task>.<type>.<N>` has its index in `alloc/logs/.index/<task>.<type>.<N>.idx`.
//! A directory, so the core's log-file listing (which skips directories and would refuse
//! a non-numeric suffix such as `.0.idx`) never sees an index, and `fs/ls alloc/logs` shows
//! one extra entry, `.index/`, instead of one per log file.
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

/// The directory of indexes, inside the logs directory.
pub const INDEX_DIR: &str = ".index";
const MAGIC: &[u8; 8] = b"CRVNLOGT";
const VERSION: u32 = 1;
const HEADER: u64 = 16;
const RECORD: u64 = 16;
/// Most records in one index file.
pub const MAX_RECORDS: u64 = 65_536;
/// Records read from the file at once.
const BATCH: u64 = 1024;

/// The index of a log file, relative to the allocation directory, for a log file's path
/// there (`alloc/logs/<name>`); `None` for anything else.
pub fn index_path(log_path: &str) -> Option<String> {
    let name = log_path
        .trim_start_matches('/')
        .strip_prefix("alloc/logs/")?;
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    Some(format!("alloc/logs/{INDEX_DIR}/{name}.idx"))
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
    /// Start the index of the (new, empty) log file `<dir>/<base>.<index>`, replacing any
    /// stale index of that name. Symlinks are never followed: tasks can write to the logs
    /// directory.
    pub fn create(dir: &Path, base: &str, index: u64) -> Self {
        let file = match open_index(dir, &file_name(base, index)) {
            Ok(file) => Some(file),
            Err(err) => {
                tracing::warn!(
                    "no arrival times for {base}.{index} in {}: {err}",
                    dir.display()
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

/// Create `<dir>/.index/<name>` afresh with its header.
fn open_index(dir: &Path, name: &str) -> io::Result<File> {
    let index_dir = dir.join(INDEX_DIR);
    match rustix::fs::mkdir(&index_dir, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(err) => return Err(err.into()),
    }
    let dir_fd = rustix::fs::open(
        &index_dir,
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

/// Remove the indexes of `<base>.<N>` for every `N` in `gone`, and any left below the
/// lowest kept index `keep_from` (e.g. by a crash between removing a log and its index).
pub fn purge(dir: &Path, base: &str, keep_from: u64) {
    let index_dir = dir.join(INDEX_DIR);
    let Ok(entries) = std::fs::read_dir(&index_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(base))
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(".idx"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if n < keep_from
            && let Err(err) = std::fs::remove_file(index_dir.join(&name))
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("failed to remove an old log index: {err}");
        }
    }
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
mod tests {
    use super::*;

    fn open(dir: &Path, name: &str) -> File {
        File::open(dir.join(INDEX_DIR).join(name)).unwrap()
    }

    #[test]
    fn index_paths_are_beside_log_files_only() {
        assert_eq!(
            index_path("alloc/logs/web.stdout.3").as_deref(),
            Some("alloc/logs/.index/web.stdout.3.idx")
        );
        assert_eq!(index_path("alloc/data/x"), None);
        assert_eq!(index_path("alloc/logs/a/b"), None);
        assert_eq!(index_path("alloc/logs/.index"), None);
    }

    #[test]
    fn records_cover_ranges_and_a_torn_record_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
        w.mark(0, 100);
        w.mark(10, 100); // same time: skipped
        w.mark(20, 200);
        w.mark(30, 300);
        let f = open(tmp.path(), "t.stdout.0.idx");
        assert_eq!(f.metadata().unwrap().len(), HEADER + 3 * RECORD);
        assert_eq!(
            covering(&f, 0, 100).unwrap(),
            Some(vec![(0, 100), (20, 200), (30, 300)])
        );
        assert_eq!(covering(&f, 25, 30).unwrap(), Some(vec![(20, 200)]));
        assert_eq!(covering(&f, 25, 25).unwrap(), Some(vec![(20, 200)]));
        assert_eq!(covering(&f, 35, 99).unwrap(), Some(vec![(30, 300)]));
        // A crash mid-record: the torn tail is not a record.
        let mut a = std::fs::OpenOptions::new()
            .append(true)
            .open(tmp.path().join(INDEX_DIR).join("t.stdout.0.idx"))
            .unwrap();
        a.write_all(&[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(covering(&f, 35, 99).unwrap(), Some(vec![(30, 300)]));
    }

    #[test]
    fn a_torn_or_foreign_header_means_no_times() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.idx");
        std::fs::write(&path, b"CRVN").unwrap();
        assert_eq!(covering(&File::open(&path).unwrap(), 0, 1).unwrap(), None);
        std::fs::write(&path, [0u8; 64]).unwrap();
        assert_eq!(covering(&File::open(&path).unwrap(), 0, 1).unwrap(), None);
    }

    #[test]
    fn a_new_log_file_replaces_a_stale_index_and_symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
        w.mark(0, 1);
        let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
        w.mark(0, 2);
        let f = open(tmp.path(), "t.stdout.0.idx");
        assert_eq!(covering(&f, 0, 1).unwrap(), Some(vec![(0, 2)]));

        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"").unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join(INDEX_DIR).join("t.stdout.1.idx"))
            .unwrap();
        let mut w = IndexWriter::create(tmp.path(), "t.stdout", 1);
        w.mark(0, 1);
        assert_eq!(std::fs::read(&outside).unwrap(), b"");
    }

    #[test]
    fn purge_removes_indexes_below_the_kept_files() {
        let tmp = tempfile::tempdir().unwrap();
        for i in [1, 2, 10] {
            IndexWriter::create(tmp.path(), "t.stdout", i);
        }
        IndexWriter::create(tmp.path(), "t.stderr", 1);
        purge(tmp.path(), "t.stdout", 2);
        let mut names: Vec<String> = std::fs::read_dir(tmp.path().join(INDEX_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["t.stderr.1.idx", "t.stdout.10.idx", "t.stdout.2.idx"]
        );
    }
}
