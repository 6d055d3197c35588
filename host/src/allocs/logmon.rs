//! Task log files in the manner of Nomad's logmon: `alloc/logs/<task>.<stdout|stderr>.<N>`,
//! rotated at a size limit, newline-aware near the limit, at most `max_files` kept.
//!
//! Clients read these files while they grow (`fs/logs` with `follow`), and find the file
//! holding a given offset by index and size, so the layout and the rotation rules are part of
//! the API: a file is never rewritten, indices only grow, and a line is split across two files
//! only when it is longer than the scan window or than a whole file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::logindex::{self, IndexWriter};

/// Within this many bytes of the size limit only whole lines are written (Nomad's
/// `lineScanLimit`), so that a line does not straddle two files.
pub const LINE_SCAN_LIMIT: u64 = 32 * 1024;

/// How much a pump reads from a task's pipe at once: the memory a stream costs, whatever
/// the task prints.
pub const PUMP_CHUNK: usize = 64 * 1024;

/// Bytes written by this process's pumps, stdout then stderr, and bytes dropped because
/// they could not be written: what an executor reports to its agent, which counts them in
/// its metrics and says in its log when output is dropped.
static WRITTEN: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Bytes of task output this process has written (stdout, stderr) and dropped.
pub fn written() -> (u64, u64, u64) {
    (
        WRITTEN[0].load(Ordering::Relaxed),
        WRITTEN[1].load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
    )
}

/// A stream of log files `<dir>/<base>.<N>`.
#[derive(Debug)]
pub struct Rotator {
    dir: PathBuf,
    /// Where the arrival-time indexes go (`logindex`).
    index_dir: PathBuf,
    base: String,
    max_files: u32,
    max_size: u64,
    index: u64,
    file: File,
    size: u64,
    /// When each chunk of the current file arrived (see `logindex`).
    marks: IndexWriter,
}

impl Rotator {
    /// Open the stream for a new run of a task.
    ///
    /// Like logmon it resumes at the highest existing index, so nothing earlier is touched;
    /// unlike logmon it does not append to that file when it has content but starts the next
    /// one: a run's output then never continues a line the previous run cut short, and a
    /// restart is visible as a new file. `max_size` is in bytes and must not be zero. The
    /// files' arrival times go to `index_dir` (indexes an older agent left in `dir` move
    /// there first).
    pub fn open(
        dir: &Path,
        index_dir: &Path,
        base: &str,
        max_files: u32,
        max_size: u64,
    ) -> io::Result<Self> {
        let max_size = max_size.max(1);
        logindex::migrate(dir, index_dir, base);
        let highest = indices(dir, base)?.into_iter().max();
        let mut index = highest.unwrap_or(0);
        let (file, size) = loop {
            match open_log(&dir.join(format!("{base}.{index}")))? {
                Some((file, 0)) => break (file, 0),
                _ => index += 1,
            }
        };
        let rotator = Self {
            dir: dir.to_path_buf(),
            index_dir: index_dir.to_path_buf(),
            base: base.to_owned(),
            max_files: max_files.max(1),
            max_size,
            index,
            file,
            size,
            marks: IndexWriter::create(index_dir, base, index),
        };
        rotator.purge();
        Ok(rotator)
    }

    /// The index of the file being written.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Append `data`, arrived now, rotating as needed.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_at(data, unix_nanos(SystemTime::now()))
    }

    /// Append `data`, which arrived at `nanos` (Unix nanoseconds), rotating as needed and
    /// recording the arrival in the index. Every byte is written unless an error is
    /// returned; on error the bytes not yet written are dropped.
    pub fn write_at(&mut self, mut data: &[u8], nanos: i64) -> io::Result<()> {
        while !data.is_empty() {
            if self.size >= self.max_size {
                self.rotate()?;
            }
            let room = self.max_size - self.size;
            let len = if data.len() as u64 + LINE_SCAN_LIMIT <= room {
                // Far from the limit: everything goes in.
                data.len()
            } else {
                let window = &data[..data.len().min(room as usize)];
                match window.iter().rposition(|&b| b == b'\n') {
                    // The whole lines that fit.
                    Some(newline) => newline + 1,
                    // An unfinished line near the limit starts the next file, unless this
                    // file is empty (a line longer than a file must be split somewhere).
                    None if room <= LINE_SCAN_LIMIT && self.size > 0 => {
                        self.rotate()?;
                        continue;
                    }
                    None => window.len(),
                }
            };
            // The time first, so that a reader never sees bytes without one.
            self.marks.mark(self.size, nanos);
            self.file.write_all(&data[..len])?;
            self.size += len as u64;
            data = &data[len..];
        }
        Ok(())
    }

    /// Close the current file and continue in the next free index, then drop the oldest
    /// files beyond `max_files`.
    fn rotate(&mut self) -> io::Result<()> {
        let mut index = self.index + 1;
        // Skip anything already there with content, or that is not a regular file, so
        // that no file is ever rewritten or appended to by two writers.
        let (file, _) = loop {
            match open_log(&self.dir.join(format!("{}.{index}", self.base)))? {
                Some((file, 0)) => break (file, 0u64),
                _ => index += 1,
            }
        };
        self.file = file;
        self.index = index;
        self.size = 0;
        self.marks = IndexWriter::create(&self.index_dir, &self.base, index);
        self.purge();
        Ok(())
    }

    /// Remove all but the newest `max_files` files. Failures are logged, never fatal:
    /// a file left behind costs disk, a failed write would cost log lines.
    fn purge(&self) {
        let mut found = match indices(&self.dir, &self.base) {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!("failed to list {}: {err}", self.dir.display());
                return;
            }
        };
        found.sort_unstable();
        let excess = found.len().saturating_sub(self.max_files as usize);
        // Indexes go with their files (and any left below the oldest kept file).
        let keep_from = found.get(excess).copied().unwrap_or(self.index);
        logindex::purge(&self.index_dir, &self.base, keep_from.min(self.index));
        for index in &found[..excess] {
            let path = self.dir.join(format!("{}.{index}", self.base));
            if let Err(err) = std::fs::remove_file(&path)
                && err.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!("failed to remove old log file {}: {err}", path.display());
            }
        }
    }
}

/// Unix nanoseconds of a time (0 before the epoch, saturating after 2262).
pub fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The indices of the files `<base>.<N>` in `dir` (entries whose suffix is not a plain
/// number are someone else's).
fn indices(dir: &Path, base: &str) -> io::Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(suffix) = name
            .to_str()
            .and_then(|n| n.strip_prefix(base))
            .and_then(|n| n.strip_prefix('.'))
        else {
            continue;
        };
        if !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
            && let Ok(index) = suffix.parse()
        {
            found.push(index);
        }
    }
    Ok(found)
}

/// Open (creating it 0644) a log file for appending, with its current size; `None` when
/// the name is taken by something that is not a regular file. Symlinks are never followed:
/// tasks can write to `alloc/logs`, and must not make the agent append to a file elsewhere.
fn open_log(path: &Path) -> io::Result<Option<(File, u64)>> {
    let opened = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        // ELOOP: a symlink; EISDIR: a directory; ENXIO: a FIFO with no reader.
        Err(err)
            if err.raw_os_error().is_some_and(|e| {
                [libc::ELOOP, libc::EISDIR, libc::ENXIO, libc::EWOULDBLOCK].contains(&e)
            }) =>
        {
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    // The umask may have narrowed the mode; logs are readable by all, as Nomad's.
    if meta.permissions().mode() & 0o777 != 0o644 {
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(Some((file, meta.len())))
}

/// Copy everything `source` yields into `rotator` until end of file, in bounded chunks.
/// A failed write is reported once and the data dropped, but reading goes on: a task must
/// never block on a full pipe because its log disk is full.
pub fn pump(mut source: impl Read, rotator: &mut Rotator, what: &str) {
    // `<task>.stdout` or `<task>.stderr`: one of two label values.
    let (log_type, total) = if rotator.base.ends_with(".stderr") {
        ("stderr", &WRITTEN[1])
    } else {
        ("stdout", &WRITTEN[0])
    };
    let written = &crate::metrics::global().log_bytes_written;
    let mut buf = vec![0u8; PUMP_CHUNK];
    let mut failing = false;
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::error!("failed to read the output of {what}: {err}");
                return;
            }
        };
        match rotator.write_at(&buf[..n], unix_nanos(SystemTime::now())) {
            Ok(()) => {
                failing = false;
                written.add(&[log_type], n as u64);
                total.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(err) => {
                DROPPED.fetch_add(n as u64, Ordering::Relaxed);
                if !failing {
                    failing = true;
                    tracing::error!("failed to write the log of {what}, dropping output: {err}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
