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
mod tests {
    use super::*;

    /// A rotator whose indexes go to `<dir>/idx`.
    fn open(dir: &Path, base: &str, max_files: u32, max_size: u64) -> Rotator {
        Rotator::open(dir, &dir.join("idx"), base, max_files, max_size).unwrap()
    }

    fn files(dir: &Path, base: &str) -> Vec<(u64, Vec<u8>)> {
        let mut found = indices(dir, base).unwrap();
        found.sort_unstable();
        found
            .into_iter()
            .map(|i| (i, std::fs::read(dir.join(format!("{base}.{i}"))).unwrap()))
            .collect()
    }

    fn concat(dir: &Path, base: &str) -> Vec<u8> {
        files(dir, base).into_iter().flat_map(|(_, d)| d).collect()
    }

    #[test]
    fn starts_at_zero_with_mode_0644() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = open(tmp.path(), "web.stdout", 3, 100);
        r.write(b"hello\n").unwrap();
        let meta = std::fs::metadata(tmp.path().join("web.stdout.0")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(concat(tmp.path(), "web.stdout"), b"hello\n");
    }

    #[test]
    fn indexes_stay_out_of_the_logs_dir_and_go_with_their_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (logs, idx) = (tmp.path().join("logs"), tmp.path().join("private/logindex"));
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(idx.parent().unwrap()).unwrap();
        let mut r = Rotator::open(&logs, &idx, "t.stdout", 2, 4).unwrap();
        for line in [b"a\n", b"b\n", b"c\n", b"d\n"] {
            r.write(line).unwrap();
            r.write(line).unwrap();
        }
        let names = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&logs), ["t.stdout.2", "t.stdout.3"]);
        assert_eq!(names(&idx), ["t.stdout.2.idx", "t.stdout.3.idx"]);
    }

    #[test]
    fn rotation_keeps_lines_whole_near_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        // With a limit below the scan window, every write is "near the end".
        let mut r = open(tmp.path(), "t.stdout", 100, 10);
        r.write(b"aaa\nbbb\nccc\n").unwrap();
        r.write(b"dd").unwrap();
        r.write(b"d\n").unwrap();
        let got = files(tmp.path(), "t.stdout");
        assert_eq!(
            got,
            [
                (0, b"aaa\nbbb\n".to_vec()),
                (1, b"ccc\n".to_vec()),
                (2, b"ddd\n".to_vec())
            ]
        );
    }

    #[test]
    fn lines_longer_than_a_file_are_split_and_nothing_is_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = open(tmp.path(), "t.stdout", 100, 4);
        r.write(b"0123456789\nab").unwrap();
        let got = files(tmp.path(), "t.stdout");
        assert!(got.iter().all(|(_, d)| d.len() <= 4), "{got:?}");
        assert_eq!(concat(tmp.path(), "t.stdout"), b"0123456789\nab");
    }

    #[test]
    fn far_from_the_limit_partial_lines_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let limit = 4 * LINE_SCAN_LIMIT;
        let mut r = open(tmp.path(), "t.stdout", 10, limit);
        r.write(b"partial").unwrap();
        r.write(b" line\n").unwrap();
        assert_eq!(
            files(tmp.path(), "t.stdout"),
            [(0, b"partial line\n".to_vec())]
        );
    }

    #[test]
    fn an_unfinished_line_in_the_scan_window_moves_to_the_next_file() {
        let tmp = tempfile::tempdir().unwrap();
        let limit = 2 * LINE_SCAN_LIMIT;
        let mut r = open(tmp.path(), "t.stdout", 10, limit);
        let first = vec![b'x'; (limit - 100) as usize];
        r.write(&first).unwrap();
        r.write(b"\n").unwrap();
        r.write(b"next line").unwrap();
        r.write(b" ends\n").unwrap();
        let got = files(tmp.path(), "t.stdout");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.len() as u64, limit - 99);
        assert_eq!(got[1].1, b"next line ends\n");
    }

    #[test]
    fn keeps_at_most_max_files_and_resumes_at_the_next_index() {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        {
            let mut r = open(tmp.path(), "t.stderr", 3, 8);
            for i in 0..20 {
                let line = format!("line{i:02}\n");
                all.extend_from_slice(line.as_bytes());
                r.write(line.as_bytes()).unwrap();
            }
            assert_eq!(r.index(), 19);
        }
        let got = files(tmp.path(), "t.stderr");
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [17, 18, 19]
        );
        assert!(all.ends_with(&concat(tmp.path(), "t.stderr")));

        let mut r = open(tmp.path(), "t.stderr", 3, 8);
        assert_eq!(r.index(), 20, "a new run starts after the highest file");
        r.write(b"again\n").unwrap();
        let got = files(tmp.path(), "t.stderr");
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [18, 19, 20]
        );
        assert_eq!(got[1].1, b"line19\n", "earlier files are untouched");
    }

    #[test]
    fn an_empty_highest_file_is_reused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("t.stdout.4"), b"").unwrap();
        std::fs::write(tmp.path().join("t.stdout.2"), b"old").unwrap();
        let r = open(tmp.path(), "t.stdout", 10, 100);
        assert_eq!(r.index(), 4);
    }

    #[test]
    fn never_follows_symlinks_or_writes_into_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"").unwrap();
        let logs = tmp.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::os::unix::fs::symlink(&outside, logs.join("t.stdout.0")).unwrap();
        std::fs::create_dir(logs.join("t.stdout.1")).unwrap();
        let mut r = open(&logs, "t.stdout", 10, 100);
        r.write(b"x\n").unwrap();
        assert_eq!(r.index(), 2);
        assert_eq!(std::fs::read(&outside).unwrap(), b"");
    }

    #[test]
    fn other_names_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "t.stdout.x",
            "t.stdout.",
            "t.stdout.1.bak",
            "t.stdout.stdout.9",
            "u.stdout.7",
        ] {
            std::fs::write(tmp.path().join(name), b"keep").unwrap();
        }
        let mut r = open(tmp.path(), "t.stdout", 1, 2);
        assert_eq!(r.index(), 0);
        r.write(b"a\nb\nc\n").unwrap();
        assert_eq!(indices(tmp.path(), "t.stdout").unwrap(), [2]);
        // The six, and the directory of indexes.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 7);
    }

    #[test]
    fn pump_copies_a_large_stream_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let mut data = Vec::new();
        let mut x: u32 = 1;
        while data.len() < 3_000_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // About one newline every 200 bytes, and some very long lines.
            data.push(if x.is_multiple_of(200) {
                b'\n'
            } else {
                (x >> 8) as u8 | 1
            });
        }
        let mut r = open(tmp.path(), "t.stdout", 1000, 100_000);
        pump(&data[..], &mut r, "test");
        assert!(concat(tmp.path(), "t.stdout") == data);
        assert!(
            files(tmp.path(), "t.stdout")
                .iter()
                .all(|(_, d)| d.len() <= 100_000)
        );
    }
}
