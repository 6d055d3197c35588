//! Read-only access to allocation directories for untrusted HTTP requests.
//!
//! Nomad's client `/v1/client/fs/*` endpoints let any caller name a path
//! inside an allocation directory. Those directories are written by the tasks
//! themselves, so they may contain symlinks pointing anywhere, FIFOs, sockets
//! and device nodes, and the request path itself may contain `..`, `//` or
//! absolute components. Checking the path *string* (as Nomad does) is racy
//! and misses symlinks, so this module lets the kernel enforce containment at
//! open time:
//!
//! * every lookup is an `openat2(2)` relative to an fd of the allocation
//!   directory with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, so no `..`,
//!   absolute symlink, escaping relative symlink or `/proc` magic link can
//!   leave it (the kernel answers `EXDEV` / `ELOOP`, which become
//!   [`FsError::EscapesAllocDir`]);
//! * paths are first opened with `O_PATH`, which never blocks and has no side
//!   effects even on FIFOs or devices; only a regular file is re-opened for
//!   reading, and the re-opened fd must be the same inode;
//! * the `<task>/secrets` and `<task>/private` refusal is decided from where
//!   the opened fd really lives (`/proc/self/fd/N`), not from the request
//!   string, so symlinks into them are caught and `secrets2.txt` is not;
//! * error messages never carry host paths, since they go back to the client.
//!
//! A symlink loop also yields `ELOOP`; it is indistinguishable from a refused
//! magic link, so it is reported as [`FsError::EscapesAllocDir`] too (a path
//! this module refuses to resolve), never as a hang.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Longest path (including the terminating NUL) the kernel accepts; longer
/// request paths are refused before any syscall so huge inputs stay cheap.
const PATH_MAX: usize = 4096;

/// `openat2` with `RESOLVE_BENEATH` may fail with `EAGAIN` when a concurrent
/// rename could have let `..` escape; the man page says to retry.
const OPENAT2_ATTEMPTS: usize = 16;

/// Upper bound on a single read (and on up-front allocation) in `read_at`, so
/// a huge `len` against a small file never allocates the whole `len`.
const READ_CHUNK: usize = 1 << 20;

/// Serves `<root>/<alloc_id>/...` read-only, with containment enforced by the kernel.
#[derive(Debug, Clone)]
pub struct AllocFs {
    root: PathBuf,
}

/// Metadata of one file as reported by the fs endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Last component of the requested path, or the directory entry name.
    pub name: String,
    /// `st_size` in bytes (for a symlink: the length of its target).
    pub size: u64,
    /// Raw `st_mode`, including the `S_IFMT` type bits.
    pub mode: u32,
    /// Modification time as (unix seconds, nanoseconds).
    pub modified: (i64, u32),
    /// `st_ino`: tells a file from another that replaced it under the same name.
    pub inode: u64,
}

/// Why a request could not be served; `Io` texts never contain host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// The allocation or the path does not exist (or the alloc id is invalid).
    NotFound,
    /// A directory was required (listing, or an intermediate path component).
    NotADirectory,
    /// A regular file was required but the path is a directory.
    IsADirectory,
    /// Resolving the path would leave the allocation directory (or loops).
    EscapesAllocDir,
    /// The opened file lives in a task's `secrets` directory.
    SecretFile,
    /// The opened file lives in a task's `private` directory.
    PrivateFile,
    /// The path is a FIFO, socket or device, which is never opened for reading.
    NotRegularFile,
    /// Any other failure, described without host paths.
    Io(String),
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or directory"),
            FsError::NotADirectory => f.write_str("not a directory"),
            FsError::IsADirectory => f.write_str("is a directory"),
            FsError::EscapesAllocDir => f.write_str("path escapes the allocation directory"),
            FsError::SecretFile => f.write_str("reading secret file prohibited"),
            FsError::PrivateFile => f.write_str("reading private file prohibited"),
            FsError::NotRegularFile => f.write_str("not a regular file"),
            FsError::Io(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for FsError {}

impl AllocFs {
    /// Creates a server for the allocation directories under `root` (which must be a directory).
    pub fn new(root: &Path) -> io::Result<Self> {
        // Canonical so that the secrets check can compare against the
        // kernel's view of paths, and so a later chdir cannot change meaning.
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "allocation root is not a directory",
            ));
        }
        Ok(Self { root })
    }

    /// Stats `path` with symlinks followed (never out of the alloc dir); `name` is the path's last component.
    pub fn stat(&self, alloc_id: &str, path: &str) -> Result<FileInfo, FsError> {
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;
        let fd = open_beneath(alloc.as_fd(), rel, OFlags::PATH).map_err(map_errno)?;
        let st = rustix::fs::fstat(&fd).map_err(map_errno)?;
        Ok(file_info(display_name(path), &st))
    }

    /// The real host path of `path` (resolved beneath the alloc dir, symlinks followed),
    /// for watching it; never shown to clients.
    pub fn resolve(&self, alloc_id: &str, path: &str) -> Result<std::path::PathBuf, FsError> {
        use std::os::unix::ffi::OsStringExt;
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;
        let fd = open_beneath(alloc.as_fd(), rel, OFlags::PATH).map_err(map_errno)?;
        let real = real_path(fd.as_fd())?;
        Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(real)))
    }

    /// Lists a directory: entries lstat'ed (symlinks not followed), sorted by name bytes.
    pub fn list(&self, alloc_id: &str, path: &str) -> Result<Vec<FileInfo>, FsError> {
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;
        let dir = open_beneath(alloc.as_fd(), rel, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(map_errno)?;
        // O_PATH fds cannot be read, so reopen the very same directory via
        // "." (no path resolution that could be raced or escape).
        let reader = rustix::fs::openat(
            &dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(map_errno)?;
        let entries = Dir::new(reader).map_err(map_errno)?;

        let mut out: Vec<(Vec<u8>, FileInfo)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(map_errno)?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let st = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed between readdir and lstat: it is simply gone.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(map_errno(e)),
            };
            let bytes = name.to_bytes().to_vec();
            // Names are bytes on Linux; the API speaks String, so non-UTF-8
            // names are shown lossily (sorting still uses the raw bytes).
            let shown = String::from_utf8_lossy(&bytes).into_owned();
            out.push((bytes, file_info(shown, &st)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, info)| info).collect())
    }

    /// Opens a regular file for reading, refusing `<task>/secrets` and `<task>/private` for tasks in `tasks`.
    pub fn open_file(&self, alloc_id: &str, path: &str, tasks: &[String]) -> Result<File, FsError> {
        let (fd, _) = self.open_regular(alloc_id, path, tasks)?;
        Ok(File::from(fd))
    }

    /// Reads up to `len` bytes at `offset` of a regular file (fewer at EOF); same refusals as `open_file`.
    pub fn read_at(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        len: u32,
        tasks: &[String],
    ) -> Result<Vec<u8>, FsError> {
        let (fd, st) = self.open_regular(alloc_id, path, tasks)?;
        read_range(fd.as_fd(), &st, offset, len)
    }

    /// Opens `<root>/<alloc_id>` as an `O_PATH` directory fd.
    fn open_alloc(&self, alloc_id: &str) -> Result<OwnedFd, FsError> {
        if !is_plain_component(alloc_id) {
            return Err(FsError::NotFound);
        }
        let root = rustix::fs::open(
            &self.root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => FsError::NotFound,
            other => FsError::Io(describe(other)),
        })?;
        // Alloc dirs are real directories; a symlinked one is not served
        // (NO_SYMLINKS), so the alloc dir can never be redirected elsewhere.
        open_beneath_with(
            root.as_fd(),
            alloc_id,
            OFlags::PATH | OFlags::DIRECTORY,
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NAMETOOLONG | Errno::XDEV => {
                FsError::NotFound
            }
            other => FsError::Io(describe(other)),
        })
    }

    /// Resolves `path` to a readable fd of a regular file that is neither secret nor private.
    fn open_regular(
        &self,
        alloc_id: &str,
        path: &str,
        tasks: &[String],
    ) -> Result<(OwnedFd, Stat), FsError> {
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;

        // O_PATH first: it neither blocks on a FIFO nor has device side
        // effects, so the file type can be checked before any real open.
        let probe = open_beneath(alloc.as_fd(), rel, OFlags::PATH).map_err(map_errno)?;
        let first = rustix::fs::fstat(&probe).map_err(map_errno)?;
        require_regular(&first)?;

        let guard = ProtectedDirs::new(alloc.as_fd(), tasks)?;
        guard.check(probe.as_fd())?;

        // NONBLOCK so that if the path was swapped for a FIFO in between, the
        // open still returns at once (and then fails the inode comparison).
        let file = open_beneath(
            alloc.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
        )
        .map_err(map_errno)?;
        let second = rustix::fs::fstat(&file).map_err(map_errno)?;
        verify_same(&first, &second)?;
        // The returned fd is what the caller reads, so judge it as well.
        guard.check(file.as_fd())?;

        // Regular-file reads ignore O_NONBLOCK, but callers may hand the fd
        // to code that checks it; give back a plain blocking fd.
        let flags = rustix::fs::fcntl_getfl(&file).map_err(map_errno)?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(map_errno)?;
        Ok((file, second))
    }
}

/// Directories whose files must not be served, as real paths from the kernel.
struct ProtectedDirs {
    alloc_real: Vec<u8>,
    secrets: Vec<Vec<u8>>,
    private: Vec<Vec<u8>>,
}

impl ProtectedDirs {
    fn new(alloc: BorrowedFd<'_>, tasks: &[String]) -> Result<Self, FsError> {
        let alloc_real = real_path(alloc)?;
        let mut secrets = Vec::new();
        let mut private = Vec::new();
        // Nomad task names are single path components; anything else cannot
        // name a task directory, so it cannot protect (or unprotect) anything.
        for task in tasks.iter().filter(|t| is_plain_component(t)) {
            for (sub, list) in [("secrets", &mut secrets), ("private", &mut private)] {
                // Where the directory lives by Nomad's layout...
                let lexical = join(&alloc_real, &[task.as_bytes(), sub.as_bytes()]);
                // ...and where it really is if it is itself a symlink (inside
                // the alloc dir); files reached through either are refused.
                let resolved = open_beneath(alloc, &format!("{task}/{sub}"), OFlags::PATH)
                    .ok()
                    .and_then(|fd| real_path(fd.as_fd()).ok());
                if let Some(resolved) = resolved
                    && resolved != lexical
                {
                    list.push(resolved);
                }
                list.push(lexical);
            }
        }
        Ok(Self {
            alloc_real,
            secrets,
            private,
        })
    }

    /// Refuses `fd` if it really lives in a protected dir, or its location cannot be established.
    fn check(&self, fd: BorrowedFd<'_>) -> Result<(), FsError> {
        let real = real_path(fd)?;
        // It was opened beneath the alloc dir, so anything else means the
        // kernel's answer cannot be trusted for this decision: fail closed.
        if !is_within(&real, &self.alloc_real) {
            return Err(FsError::Io("file location could not be verified".into()));
        }
        if self.secrets.iter().any(|dir| is_within(&real, dir)) {
            return Err(FsError::SecretFile);
        }
        if self.private.iter().any(|dir| is_within(&real, dir)) {
            return Err(FsError::PrivateFile);
        }
        Ok(())
    }
}

/// The kernel's current path for an open fd.
fn real_path(fd: BorrowedFd<'_>) -> Result<Vec<u8>, FsError> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    match rustix::fs::readlink(link.as_str(), Vec::new()) {
        // Anything not absolute (e.g. an fd outside our root) cannot be
        // compared, so it is treated as unverifiable.
        Ok(target) if target.as_bytes().first() == Some(&b'/') => Ok(target.into_bytes()),
        _ => Err(FsError::Io("file location could not be verified".into())),
    }
}

/// `base/part/part...`, without doubling a trailing slash of `base`.
fn join(base: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = base.to_vec();
    for part in parts {
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}

/// Whether `path` is `dir` or below it, comparing whole components.
fn is_within(path: &[u8], dir: &[u8]) -> bool {
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'/') || dir.last() == Some(&b'/'),
        None => false,
    }
}

/// A single, non-special path component (used for alloc ids and task names).
fn is_plain_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// Turns a request path into one relative to the alloc dir fd.
fn relative(path: &str) -> Result<&str, FsError> {
    if path.contains('\0') {
        return Err(FsError::Io("invalid path".into()));
    }
    // A leading `/` means the alloc dir's root, so it is dropped; openat2
    // would otherwise refuse the absolute path under RESOLVE_BENEATH.
    let rel = path.trim_start_matches('/');
    if rel.len() >= PATH_MAX {
        return Err(FsError::Io("file name too long".into()));
    }
    // The kernel stops at the first missing component, so `a/../../x`
    // without an `a` would be NotFound. A path that climbs above the alloc
    // dir by its text alone is refused outright (as Nomad does), so the
    // answer to an obvious escape attempt does not depend on what exists.
    // The kernel remains the authority for everything else (symlinks).
    let mut depth: usize = 0;
    for component in rel.split('/') {
        match component {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1).ok_or(FsError::EscapesAllocDir)?,
            _ => depth += 1,
        }
    }
    Ok(if rel.is_empty() { "." } else { rel })
}

/// Last component of the path as given (`.` components ignored), "" for the root.
fn display_name(path: &str) -> String {
    path.split('/')
        .rfind(|c| !c.is_empty() && *c != ".")
        .unwrap_or("")
        .to_owned()
}

/// `openat2` beneath `dir` with the flags every request path gets.
fn open_beneath(dir: BorrowedFd<'_>, path: &str, oflags: OFlags) -> Result<OwnedFd, Errno> {
    open_beneath_with(
        dir,
        path,
        oflags,
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
}

fn open_beneath_with(
    dir: BorrowedFd<'_>,
    path: &str,
    oflags: OFlags,
    resolve: ResolveFlags,
) -> Result<OwnedFd, Errno> {
    let mut last = Errno::AGAIN;
    for _ in 0..OPENAT2_ATTEMPTS {
        match rustix::fs::openat2(dir, path, oflags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(e @ (Errno::AGAIN | Errno::INTR)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn require_regular(st: &Stat) -> Result<(), FsError> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        FileType::Directory => Err(FsError::IsADirectory),
        _ => Err(FsError::NotRegularFile),
    }
}

/// The re-opened fd must be the inode that was type-checked through `O_PATH`.
fn verify_same(first: &Stat, second: &Stat) -> Result<(), FsError> {
    let regular = FileType::from_raw_mode(second.st_mode) == FileType::RegularFile;
    if first.st_dev != second.st_dev || first.st_ino != second.st_ino || !regular {
        return Err(FsError::Io("file changed while opening".into()));
    }
    Ok(())
}

fn read_range(fd: BorrowedFd<'_>, st: &Stat, offset: u64, len: u32) -> Result<Vec<u8>, FsError> {
    // No file extends past i64::MAX, and the kernel rejects such offsets with
    // EINVAL; that is simply "past EOF".
    let max_offset = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
    if offset > max_offset {
        return Ok(Vec::new());
    }
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    // Size the buffer from the file, not from `len`, so a small file with a
    // huge `len` stays cheap; the file may still grow while being read.
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let expected = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(want.min(expected).min(READ_CHUNK));
    let mut pos = offset;
    while out.len() < want {
        let start = out.len();
        let chunk = (want - start).min(READ_CHUNK);
        out.resize(start + chunk, 0);
        let result = rustix::io::pread(fd, &mut out[start..], pos);
        match result {
            Ok(0) => {
                out.truncate(start);
                break;
            }
            Ok(n) => {
                out.truncate(start + n);
                pos = pos.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
                if pos > max_offset {
                    break;
                }
            }
            Err(Errno::INTR) => out.truncate(start),
            Err(e) => return Err(map_errno(e)),
        }
    }
    Ok(out)
}

fn file_info(name: String, st: &Stat) -> FileInfo {
    FileInfo {
        name,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: st.st_mode,
        modified: (to_i64(st.st_mtime), to_u32(st.st_mtime_nsec)),
        inode: st.st_ino,
    }
}

// Generic so the conversion compiles (without lint noise) whatever integer
// types the target's `struct stat` uses.
fn to_i64<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(0)
}

fn to_u32<T: TryInto<u32>>(v: T) -> u32 {
    v.try_into().unwrap_or(0)
}

/// Maps errors from resolving/reading a request path.
fn map_errno(e: Errno) -> FsError {
    match e {
        Errno::NOENT => FsError::NotFound,
        Errno::NOTDIR => FsError::NotADirectory,
        Errno::ISDIR => FsError::IsADirectory,
        // EXDEV: RESOLVE_BENEATH violated. ELOOP: magic link refused by
        // RESOLVE_NO_MAGICLINKS, or a symlink loop; they cannot be told apart.
        Errno::XDEV | Errno::LOOP => FsError::EscapesAllocDir,
        other => FsError::Io(describe(other)),
    }
}

/// A short, path-free description of an errno.
fn describe(e: Errno) -> String {
    match e {
        Errno::NAMETOOLONG => "file name too long".into(),
        Errno::ACCESS | Errno::PERM => "permission denied".into(),
        Errno::NOSYS => "openat2 is not supported by this kernel".into(),
        // strerror text: fixed per errno, never mentions a path.
        other => io::Error::from_raw_os_error(other.raw_os_error())
            .to_string()
            .to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    use tempfile::TempDir;

    const ID: &str = "8d3c1a2e-0000-4000-8000-000000000001";
    const S_IFMT: u32 = 0o170000;
    const S_IFREG: u32 = 0o100000;
    const S_IFDIR: u32 = 0o040000;
    const S_IFLNK: u32 = 0o120000;
    const S_IFIFO: u32 = 0o010000;
    const S_IFSOCK: u32 = 0o140000;
    const S_IFCHR: u32 = 0o020000;

    struct Fixture {
        tmp: TempDir,
        fs: AllocFs,
        alloc: PathBuf,
    }

    impl Fixture {
        fn path(&self, rel: &str) -> PathBuf {
            self.alloc.join(rel)
        }
        fn write(&self, rel: &str, data: &[u8]) {
            let p = self.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        fn link(&self, rel: &str, target: &str) {
            symlink(target, self.path(rel)).unwrap();
        }
        fn host_prefix(&self) -> String {
            self.tmp.path().to_string_lossy().into_owned()
        }
    }

    /// Nomad's layout for one alloc with task `web`, plus data outside it.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let alloc = root.join(ID);
        for d in [
            "alloc/logs",
            "alloc/data",
            "alloc/tmp",
            "web/local",
            "web/secrets",
            "web/private",
            "web/tmp",
        ] {
            std::fs::create_dir_all(alloc.join(d)).unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret.txt"), b"outside").unwrap();
        std::fs::create_dir_all(root.join("other-alloc")).unwrap();
        std::fs::write(root.join("other-alloc/file"), b"other").unwrap();
        let fs = AllocFs::new(&root).unwrap();
        let f = Fixture { tmp, fs, alloc };
        f.write("alloc/logs/web.stdout.0", b"0123456789");
        f.write("web/secrets/token", b"s3cr3t");
        f.write("web/private/key", b"pk");
        f.write("web/secrets2.txt", b"not secret");
        f.write("web/privateer", b"not private");
        f.write("web/local/ok.txt", b"ok");
        f
    }

    fn tasks() -> Vec<String> {
        vec!["web".to_string()]
    }

    fn read_all(f: &Fixture, path: &str) -> Result<Vec<u8>, FsError> {
        f.fs.read_at(ID, path, 0, 1 << 20, &tasks())
    }

    fn open_read(f: &Fixture, path: &str) -> Result<Vec<u8>, FsError> {
        let mut file = f.fs.open_file(ID, path, &tasks())?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).unwrap();
        Ok(buf)
    }

    /// Runs `op` on another thread and fails the test if it does not finish.
    fn within_deadline<T: Send + 'static>(op: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(op());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("operation blocked (or panicked on its thread)")
    }

    /// Every operation on `path` must fail with `want`.
    fn assert_all(f: &Fixture, path: &str, want: FsError) {
        assert_eq!(f.fs.stat(ID, path), Err(want.clone()), "stat {path:?}");
        assert_eq!(f.fs.list(ID, path), Err(want.clone()), "list {path:?}");
        assert_eq!(
            f.fs.open_file(ID, path, &tasks()).map(|_| ()),
            Err(want.clone()),
            "open_file {path:?}"
        );
        assert_eq!(read_all(f, path), Err(want), "read_at {path:?}");
    }

    #[test]
    fn new_requires_existing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(AllocFs::new(&tmp.path().join("missing")).is_err());
        std::fs::write(tmp.path().join("file"), b"x").unwrap();
        assert!(AllocFs::new(&tmp.path().join("file")).is_err());
        // A relative or symlinked root is canonicalized.
        symlink(tmp.path(), tmp.path().join("link")).unwrap();
        let fs = AllocFs::new(&tmp.path().join("link/.")).unwrap();
        assert_eq!(fs.root, std::fs::canonicalize(tmp.path()).unwrap());
    }

    #[test]
    fn invalid_or_missing_alloc_id_is_not_found() {
        let f = fixture();
        std::fs::write(f.alloc.parent().unwrap().join("plainfile"), b"x").unwrap();
        symlink(&f.alloc, f.alloc.parent().unwrap().join("linked")).unwrap();
        symlink("/etc", f.alloc.parent().unwrap().join("etc")).unwrap();
        let long = "a".repeat(300);
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "/",
            "../root",
            "a\0b",
            "missing",
            "plainfile",
            "linked",
            "etc",
            &long,
        ] {
            assert_eq!(f.fs.stat(id, ""), Err(FsError::NotFound), "stat {id:?}");
            assert_eq!(f.fs.list(id, "/"), Err(FsError::NotFound), "list {id:?}");
            assert_eq!(
                f.fs.open_file(id, "x", &[]).map(|_| ()),
                Err(FsError::NotFound)
            );
            assert_eq!(f.fs.read_at(id, "x", 0, 1, &[]), Err(FsError::NotFound));
        }
        // Other allocations are reachable only by their own id.
        assert_eq!(
            f.fs.read_at("other-alloc", "file", 0, 10, &[]).unwrap(),
            b"other"
        );
    }

    #[test]
    fn dotdot_escapes_are_refused() {
        let f = fixture();
        for p in [
            "..",
            "../..",
            "../",
            "a/../../x",
            "/../x",
            "/..",
            "alloc/../../x",
            "alloc/logs/../../../other-alloc/file",
            "../other-alloc/file",
            // Leaving and coming back is still leaving.
            &format!("../{ID}/alloc"),
            "./../x",
        ] {
            assert_all(&f, p, FsError::EscapesAllocDir);
        }
    }

    #[test]
    fn kernel_refuses_dotdot_on_its_own() {
        // The same escapes without the lexical pre-check: EXDEV from openat2.
        let f = fixture();
        let alloc = rustix::fs::open(f.alloc.as_path(), OFlags::PATH, Mode::empty()).unwrap();
        for p in ["..", "alloc/../..", "web/local/../../../other-alloc"] {
            assert_eq!(
                open_beneath(alloc.as_fd(), p, OFlags::PATH).map(|_| ()),
                Err(Errno::XDEV),
                "{p}"
            );
        }
        assert_eq!(
            open_beneath(alloc.as_fd(), "/etc", OFlags::PATH).map(|_| ()),
            Err(Errno::XDEV)
        );
    }

    #[test]
    fn dotdot_inside_is_allowed() {
        let f = fixture();
        let names = |v: Vec<FileInfo>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
        assert_eq!(
            names(f.fs.list(ID, "alloc/../alloc/logs").unwrap()),
            ["web.stdout.0"]
        );
        assert_eq!(
            names(f.fs.list(ID, "./alloc//./logs/").unwrap()),
            ["web.stdout.0"]
        );
        assert_eq!(
            read_all(&f, "web/../alloc/logs/web.stdout.0").unwrap(),
            b"0123456789"
        );
        assert_eq!(
            read_all(&f, "//alloc///logs//web.stdout.0").unwrap(),
            b"0123456789"
        );
        assert_eq!(f.fs.stat(ID, "alloc/..").unwrap().mode & S_IFMT, S_IFDIR);
    }

    #[test]
    fn absolute_request_paths_resolve_inside_the_alloc_dir() {
        let f = fixture();
        for p in [
            "/etc/passwd",
            "//etc/passwd",
            "/proc/self/root",
            "/proc/self/fd/0",
        ] {
            assert_all(&f, p, FsError::NotFound);
        }
        f.write("etc/passwd", b"inside");
        assert_eq!(read_all(&f, "/etc/passwd").unwrap(), b"inside");
        assert_eq!(read_all(&f, "//etc/passwd").unwrap(), b"inside");
        assert_eq!(f.fs.stat(ID, "/etc/passwd").unwrap().size, 6);
    }

    #[test]
    fn percent_encoding_is_literal() {
        let f = fixture();
        for p in [
            "%2e%2e",
            "%2e%2e/%2e%2e/etc/passwd",
            "%2F..",
            "..%2f..%2fetc",
        ] {
            assert_all(&f, p, FsError::NotFound);
        }
        f.write("%2e%2e/x", b"literal");
        assert_eq!(read_all(&f, "%2e%2e/x").unwrap(), b"literal");
    }

    #[test]
    fn absolute_symlink_out_is_refused() {
        let f = fixture();
        f.link("alloc/data/etc", "/etc");
        f.link("alloc/data/passwd", "/etc/passwd");
        let outside = f.tmp.path().join("outside/secret.txt");
        f.link("alloc/data/abs", outside.to_str().unwrap());
        // Even an absolute link back into the alloc dir is refused: beneath
        // resolution never starts over at "/".
        f.link(
            "alloc/data/self",
            f.alloc.join("web/local/ok.txt").to_str().unwrap(),
        );
        for p in [
            "alloc/data/etc",
            "alloc/data/etc/passwd",
            "alloc/data/passwd",
            "alloc/data/abs",
            "alloc/data/self",
        ] {
            assert_all(&f, p, FsError::EscapesAllocDir);
        }
    }

    #[test]
    fn relative_symlink_out_is_refused() {
        let f = fixture();
        f.link("alloc/data/up", "../../../../outside/secret.txt");
        f.link("alloc/data/updir", "../../../../outside");
        f.link("alloc/data/sibling", "../../../other-alloc");
        f.link("rootlink", "..");
        for p in [
            "alloc/data/up",
            "alloc/data/updir",
            "alloc/data/updir/secret.txt",
            "alloc/data/sibling/file",
            "rootlink",
            "rootlink/other-alloc/file",
        ] {
            assert_all(&f, p, FsError::EscapesAllocDir);
        }
    }

    #[test]
    fn symlink_chains() {
        let f = fixture();
        // Out: inside -> inside -> outside.
        f.link("alloc/data/c1", "c2");
        f.link("alloc/data/c2", "../tmp/c3");
        f.link("alloc/tmp/c3", "../../../../outside");
        assert_all(&f, "alloc/data/c1", FsError::EscapesAllocDir);
        assert_all(&f, "alloc/data/c1/secret.txt", FsError::EscapesAllocDir);
        // Staying inside works, and stat reports the target.
        f.link("alloc/data/l1", "l2");
        f.link("alloc/data/l2", "../logs");
        assert_eq!(f.fs.list(ID, "alloc/data/l1").unwrap().len(), 1);
        let info = f.fs.stat(ID, "alloc/data/l1/web.stdout.0").unwrap();
        assert_eq!((info.size, info.mode & S_IFMT), (10, S_IFREG));
        let dir = f.fs.stat(ID, "alloc/data/l1").unwrap();
        assert_eq!((dir.name.as_str(), dir.mode & S_IFMT), ("l1", S_IFDIR));
        assert_eq!(
            read_all(&f, "alloc/data/l1/web.stdout.0").unwrap(),
            b"0123456789"
        );
    }

    #[test]
    fn symlink_loops_fail_fast_as_escape() {
        let f = fixture();
        f.link("alloc/data/loopa", "loopb");
        f.link("alloc/data/loopb", "loopa");
        f.link("alloc/data/me", "me");
        f.link("alloc/data/deep", "deep/deep");
        within_deadline(move || {
            for p in ["alloc/data/loopa", "alloc/data/me", "alloc/data/deep/x"] {
                assert_all(&f, p, FsError::EscapesAllocDir);
            }
        });
    }

    #[test]
    fn magic_links_are_refused() {
        // /proc/<pid> stands in for an alloc dir full of magic links.
        let fs = AllocFs::new(Path::new("/proc")).unwrap();
        let pid = std::process::id().to_string();
        let held = File::open("/etc/hostname")
            .or_else(|_| File::open("/"))
            .unwrap();
        let fd_path = format!("fd/{}", held.as_raw_fd());
        for p in ["cwd", "root", "root/etc/passwd", "exe", &fd_path] {
            assert_eq!(fs.stat(&pid, p), Err(FsError::EscapesAllocDir), "{p}");
            assert_eq!(
                fs.read_at(&pid, p, 0, 10, &[]),
                Err(FsError::EscapesAllocDir),
                "{p}"
            );
        }
        // Plain files there are fine, so the refusal above is the magic link.
        assert!(fs.read_at(&pid, "status", 0, 64, &[]).is_ok());
        // /proc/self is an ordinary (not magic) symlink, so not an alloc dir.
        assert_eq!(fs.stat("self", ""), Err(FsError::NotFound));
        // A symlink to /proc inside an alloc dir is refused as absolute.
        let f = fixture();
        f.link("alloc/data/proc", "/proc/self/root");
        assert_all(&f, "alloc/data/proc/etc/passwd", FsError::EscapesAllocDir);
    }

    #[test]
    fn stat_reports_metadata_and_name() {
        let f = fixture();
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        File::options()
            .write(true)
            .open(f.path("alloc/logs/web.stdout.0"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        let info = f.fs.stat(ID, "alloc/logs/web.stdout.0").unwrap();
        assert_eq!(info.name, "web.stdout.0");
        assert_eq!(info.size, 10);
        assert_eq!(info.mode & S_IFMT, S_IFREG);
        assert_eq!(info.modified, (1_700_000_000, 123_456_789));
        for (p, name) in [
            ("", ""),
            ("/", ""),
            (".", ""),
            ("//./", ""),
            ("alloc/logs/", "logs"),
            ("alloc/logs/.", "logs"),
            ("alloc/logs/..", ".."),
        ] {
            let info = f.fs.stat(ID, p).unwrap();
            assert_eq!(info.name, name, "{p:?}");
            assert_eq!(info.mode & S_IFMT, S_IFDIR, "{p:?}");
        }
        // A symlink is followed; the name is still the link's.
        f.link("alloc/data/tok", "../../web/secrets/token");
        let info = f.fs.stat(ID, "alloc/data/tok").unwrap();
        assert_eq!((info.name.as_str(), info.size), ("tok", 6));
        assert_eq!(info.mode & S_IFMT, S_IFREG);
        // Dangling symlink inside: not found. Outside target: escape.
        f.link("alloc/data/dangling", "nope");
        assert_eq!(f.fs.stat(ID, "alloc/data/dangling"), Err(FsError::NotFound));
        f.link("alloc/data/out", "/nonexistent");
        assert_eq!(
            f.fs.stat(ID, "alloc/data/out"),
            Err(FsError::EscapesAllocDir)
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let root = f.fs.stat(ID, "").unwrap();
        assert!(root.modified.0 > 0 && root.modified.0 <= i64::try_from(now).unwrap() + 5);
    }

    #[test]
    fn list_is_sorted_lstat_and_skips_dots() {
        let f = fixture();
        f.write("alloc/data/b.txt", b"bb");
        f.write("alloc/data/B", b"B");
        f.write("alloc/data/a", b"");
        std::fs::create_dir(f.path("alloc/data/zdir")).unwrap();
        f.link("alloc/data/link", "../../web/secrets/token");
        f.link("alloc/data/out", "/etc/passwd");
        let entries = f.fs.list(ID, "alloc/data").unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["B", "a", "b.txt", "link", "out", "zdir"]);
        let by = |n: &str| entries.iter().find(|e| e.name == n).unwrap().clone();
        assert_eq!((by("b.txt").size, by("b.txt").mode & S_IFMT), (2, S_IFREG));
        assert_eq!(by("zdir").mode & S_IFMT, S_IFDIR);
        // Symlinks are not followed: type link, size = target length, even
        // when the target is outside.
        let link = by("link");
        assert_eq!(link.mode & S_IFMT, S_IFLNK);
        assert_eq!(link.size, "../../web/secrets/token".len() as u64);
        let out = by("out");
        assert_eq!((out.mode & S_IFMT, out.size), (S_IFLNK, 11));

        let root: Vec<_> =
            f.fs.list(ID, "/")
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
        assert_eq!(root, ["alloc", "web"]);
        assert_eq!(f.fs.list(ID, "").unwrap().len(), 2);
        assert!(f.fs.list(ID, "alloc/tmp").unwrap().is_empty());
        // Listing follows symlinks in the path itself (inside only).
        f.link("alloc/data/logs", "../logs");
        assert_eq!(f.fs.list(ID, "alloc/data/logs").unwrap().len(), 1);
    }

    #[test]
    fn list_errors() {
        let f = fixture();
        f.write("x.txt", b"x");
        assert_eq!(f.fs.list(ID, "x.txt"), Err(FsError::NotADirectory));
        assert_eq!(f.fs.list(ID, "x.txt/"), Err(FsError::NotADirectory));
        assert_eq!(f.fs.list(ID, "x.txt/sub"), Err(FsError::NotADirectory));
        assert_eq!(f.fs.stat(ID, "x.txt/sub"), Err(FsError::NotADirectory));
        assert_eq!(read_all(&f, "x.txt/sub"), Err(FsError::NotADirectory));
        assert_eq!(f.fs.list(ID, "missing"), Err(FsError::NotFound));
        assert_eq!(f.fs.list(ID, "missing/deeper"), Err(FsError::NotFound));
        f.link("alloc/data/filelink", "../../x.txt");
        assert_eq!(
            f.fs.list(ID, "alloc/data/filelink"),
            Err(FsError::NotADirectory)
        );
    }

    #[test]
    fn list_shows_non_utf8_names_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let f = fixture();
        let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
        std::fs::write(f.path("alloc/tmp").join(name), b"x").unwrap();
        let entries = f.fs.list(ID, "alloc/tmp").unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "bad\u{fffd}name");
    }

    #[test]
    fn secrets_and_private_are_refused_by_real_location() {
        let f = fixture();
        f.link("alloc/data/link", "../../web/secrets/token");
        f.link("alloc/data/sdir", "../../web/secrets");
        f.link("alloc/data/pdir", "../../web/private");
        for p in [
            "web/secrets/token",
            "/web/secrets/token",
            "web//secrets/./token",
            "alloc/../web/secrets/token",
            "web/local/../secrets/token",
            "alloc/data/link",
            "alloc/data/sdir/token",
        ] {
            assert_eq!(read_all(&f, p), Err(FsError::SecretFile), "read_at {p}");
            assert_eq!(open_read(&f, p), Err(FsError::SecretFile), "open_file {p}");
            // stat is allowed (Nomad too lets secrets be stat'ed and listed).
            assert_eq!(f.fs.stat(ID, p).unwrap().size, 6, "stat {p}");
        }
        for p in ["web/private/key", "alloc/data/pdir/key"] {
            assert_eq!(read_all(&f, p), Err(FsError::PrivateFile), "{p}");
            assert_eq!(open_read(&f, p), Err(FsError::PrivateFile), "{p}");
        }
        assert_eq!(f.fs.list(ID, "web/secrets").unwrap().len(), 1);
        // Only the listed tasks are protected.
        assert_eq!(
            f.fs.read_at(ID, "web/secrets/token", 0, 64, &[]).unwrap(),
            b"s3cr3t"
        );
        let other = vec!["api".to_string()];
        assert_eq!(
            f.fs.read_at(ID, "alloc/data/link", 0, 64, &other).unwrap(),
            b"s3cr3t"
        );
        // The directories themselves are directories first.
        assert_eq!(read_all(&f, "web/secrets"), Err(FsError::IsADirectory));
    }

    #[test]
    fn lookalike_names_are_not_refused() {
        let f = fixture();
        assert_eq!(read_all(&f, "web/secrets2.txt").unwrap(), b"not secret");
        assert_eq!(open_read(&f, "web/privateer").unwrap(), b"not private");
        f.write("web/local/secrets/x", b"nested");
        assert_eq!(read_all(&f, "web/local/secrets/x").unwrap(), b"nested");
        f.write("alloc/secrets/y", b"alloc-level");
        assert_eq!(read_all(&f, "alloc/secrets/y").unwrap(), b"alloc-level");
        // Odd task names neither panic nor protect anything unexpected.
        let odd: Vec<String> = ["", ".", "..", "a/b", "web\0", "/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            f.fs.read_at(ID, "web/local/ok.txt", 0, 9, &odd).unwrap(),
            b"ok"
        );
    }

    #[test]
    fn symlinked_secrets_dir_is_protected_at_its_real_location() {
        let f = fixture();
        // Task `db` has its secrets dir as a symlink to somewhere else in the alloc.
        std::fs::create_dir_all(f.path("db")).unwrap();
        f.write("alloc/data/dbsecrets/pw", b"hunter2");
        f.link("db/secrets", "../alloc/data/dbsecrets");
        let tasks = vec!["web".to_string(), "db".to_string()];
        for p in ["db/secrets/pw", "alloc/data/dbsecrets/pw"] {
            assert_eq!(
                f.fs.read_at(ID, p, 0, 64, &tasks),
                Err(FsError::SecretFile),
                "{p}"
            );
        }
    }

    #[test]
    fn special_files_are_never_opened() {
        let f = fixture();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            f.path("alloc/tmp/fifo").as_path(),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(f.path("alloc/tmp/sock")).unwrap();
        f.link("alloc/data/fifolink", "../tmp/fifo");
        let fs = f.fs.clone();
        within_deadline(move || {
            for p in ["alloc/tmp/fifo", "alloc/data/fifolink", "alloc/tmp/sock"] {
                assert_eq!(
                    fs.open_file(ID, p, &[]).map(|_| ()),
                    Err(FsError::NotRegularFile),
                    "{p}"
                );
                assert_eq!(fs.read_at(ID, p, 0, 10, &[]), Err(FsError::NotRegularFile));
            }
        });
        assert_eq!(
            f.fs.stat(ID, "alloc/tmp/fifo").unwrap().mode & S_IFMT,
            S_IFIFO
        );
        assert_eq!(
            f.fs.stat(ID, "alloc/data/fifolink").unwrap().mode & S_IFMT,
            S_IFIFO
        );
        assert_eq!(
            f.fs.stat(ID, "alloc/tmp/sock").unwrap().mode & S_IFMT,
            S_IFSOCK
        );
        let listed: Vec<_> =
            f.fs.list(ID, "alloc/tmp")
                .unwrap()
                .into_iter()
                .map(|e| (e.name, e.mode & S_IFMT))
                .collect();
        assert_eq!(
            listed,
            [
                ("fifo".to_string(), S_IFIFO),
                ("sock".to_string(), S_IFSOCK)
            ]
        );
        assert_eq!(f.fs.list(ID, "alloc/tmp/fifo"), Err(FsError::NotADirectory));
    }

    #[test]
    fn device_nodes_are_never_opened() {
        let f = fixture();
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            f.path("alloc/tmp/null").as_path(),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        );
        if made.is_err() {
            // No CAP_MKNOD here; FIFOs and sockets cover the same code path.
            return;
        }
        assert_eq!(
            f.fs.stat(ID, "alloc/tmp/null").unwrap().mode & S_IFMT,
            S_IFCHR
        );
        assert_eq!(read_all(&f, "alloc/tmp/null"), Err(FsError::NotRegularFile));
    }

    #[test]
    fn directories_are_not_files() {
        let f = fixture();
        for p in ["", "/", "alloc", "alloc/logs/", "web/.."] {
            assert_eq!(read_all(&f, p), Err(FsError::IsADirectory), "{p:?}");
            assert_eq!(open_read(&f, p), Err(FsError::IsADirectory), "{p:?}");
        }
    }

    #[test]
    fn nul_and_huge_paths_fail_quickly() {
        let f = fixture();
        let started = Instant::now();
        for p in ["a\0b", "\0", "alloc/logs/web.stdout.0\0", "/\0/.."] {
            assert_all(&f, p, FsError::Io("invalid path".into()));
        }
        let long = "a".repeat(10_000);
        let many = "a/".repeat(5_000);
        let huge = "x".repeat(5_000_000);
        for p in [long.as_str(), many.as_str(), huge.as_str()] {
            assert_all(&f, p, FsError::Io("file name too long".into()));
        }
        // A single over-long component is the kernel's ENAMETOOLONG.
        assert_all(
            &f,
            &"n".repeat(300),
            FsError::Io("file name too long".into()),
        );
        // Just under PATH_MAX: the kernel walks it and fails normally.
        assert_all(&f, &"a/".repeat(2_000), FsError::NotFound);
        assert_all(&f, &"../".repeat(1_300), FsError::EscapesAllocDir);
        assert_eq!(f.fs.stat(ID, &"./".repeat(2_000)).unwrap().name, "");
        // Leading slashes do not count against the limit.
        assert!(f.fs.stat(ID, &"/".repeat(10_000)).is_ok());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn deeply_nested_real_files_work() {
        let f = fixture();
        let deep = "d/".repeat(200);
        f.write(&format!("alloc/data/{deep}f.txt"), b"deep");
        assert_eq!(
            read_all(&f, &format!("alloc/data/{deep}f.txt")).unwrap(),
            b"deep"
        );
        assert_eq!(
            f.fs.list(ID, &format!("alloc/data/{deep}")).unwrap().len(),
            1
        );
    }

    #[test]
    fn read_at_offsets() {
        let f = fixture();
        let p = "alloc/logs/web.stdout.0";
        let read = |off, len| f.fs.read_at(ID, p, off, len, &tasks()).unwrap();
        assert_eq!(read(0, 4), b"0123");
        assert_eq!(read(3, 4), b"3456");
        assert_eq!(read(8, 10), b"89");
        assert_eq!(read(0, u32::MAX), b"0123456789");
        assert!(read(10, 5).is_empty());
        assert!(read(1_000, 5).is_empty());
        assert!(read(u64::MAX, 5).is_empty());
        assert!(read(1 << 63, 5).is_empty());
        assert!(read(0, 0).is_empty());
    }

    #[test]
    fn read_at_spans_multiple_chunks() {
        let f = fixture();
        let data: Vec<u8> = (0..(READ_CHUNK * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        f.write("alloc/data/big", &data);
        let got =
            f.fs.read_at(ID, "alloc/data/big", 5, u32::MAX, &[])
                .unwrap();
        assert_eq!(got, &data[5..]);
    }

    #[test]
    fn open_file_returns_blocking_readable_file() {
        let f = fixture();
        let file = f.fs.open_file(ID, "web/local/ok.txt", &tasks()).unwrap();
        let flags = rustix::fs::fcntl_getfl(&file).unwrap();
        assert!(!flags.contains(OFlags::NONBLOCK));
        assert!(!flags.contains(OFlags::PATH));
        let fd_flags = rustix::io::fcntl_getfd(&file).unwrap();
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
        assert_eq!(open_read(&f, "web/local/ok.txt").unwrap(), b"ok");
    }

    #[test]
    fn inode_swap_is_detected() {
        let f = fixture();
        let a = rustix::fs::stat(f.path("web/local/ok.txt").as_path()).unwrap();
        let b = rustix::fs::stat(f.path("web/secrets2.txt").as_path()).unwrap();
        let fifo = f.path("alloc/tmp/fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo.as_path(),
            FileType::Fifo,
            Mode::empty(),
            0,
        )
        .unwrap();
        let c = rustix::fs::stat(fifo.as_path()).unwrap();
        assert_eq!(verify_same(&a, &a), Ok(()));
        let changed = Err(FsError::Io("file changed while opening".into()));
        assert_eq!(verify_same(&a, &b), changed);
        assert_eq!(verify_same(&c, &c), changed);
    }

    #[test]
    fn errors_never_mention_host_paths() {
        let f = fixture();
        let prefix = f.host_prefix();
        let long = "z".repeat(300);
        let mut seen = Vec::new();
        for p in [
            "\0",
            &long,
            "..",
            "missing",
            "/etc/passwd",
            "web/secrets/token",
        ] {
            seen.push(f.fs.stat(ID, p).err());
            seen.push(f.fs.list(ID, p).err());
            seen.push(read_all(&f, p).err());
        }
        for e in seen.into_iter().flatten() {
            let text = e.to_string();
            assert!(!text.contains(&prefix), "{text}");
            assert!(!text.contains(ID), "{text}");
        }
        assert_eq!(describe(Errno::IO), "input/output error (os error 5)");
    }

    #[test]
    fn path_helpers() {
        assert!(is_within(b"/a/b", b"/a/b"));
        assert!(is_within(b"/a/b/c", b"/a/b"));
        assert!(!is_within(b"/a/bc", b"/a/b"));
        assert!(!is_within(b"/a", b"/a/b"));
        assert!(is_within(b"/x", b"/"));
        assert_eq!(join(b"/r", &[b"t", b"secrets"]), b"/r/t/secrets");
        assert_eq!(join(b"/", &[b"t"]), b"/t");
        assert_eq!(relative("///"), Ok("."));
        assert_eq!(relative("/a/b"), Ok("a/b"));
        assert_eq!(display_name("a/b//"), "b");
        assert_eq!(relative("a/../.."), Err(FsError::EscapesAllocDir));
        assert_eq!(relative("a/b/../../c"), Ok("a/b/../../c"));
    }
}
