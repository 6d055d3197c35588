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

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, Stat};

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
/// Bytes a read tries past what the file held when opened (it may have grown since).
const READ_PROBE: usize = 64 << 10;
/// How often a file replaced while being opened is opened again before giving up.
const REPLACED_ATTEMPTS: usize = 16;

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

    /// Opens a directory beneath the allocation's (`O_PATH`), for [`super::listing`].
    pub(super) fn open_dir(&self, alloc_id: &str, path: &str) -> Result<OwnedFd, FsError> {
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;
        open_beneath(alloc.as_fd(), rel, OFlags::PATH | OFlags::DIRECTORY).map_err(map_errno)
    }

    /// Opens a regular file for reading, refusing `<task>/secrets` and `<task>/private` for tasks in `tasks`.
    pub fn open_file(&self, alloc_id: &str, path: &str, tasks: &[String]) -> Result<File, FsError> {
        let (fd, _) = self.open_regular(alloc_id, path, tasks, true)?;
        Ok(File::from(fd))
    }

    /// Opens a log file's arrival-time index, which the host keeps in a task's `private/`
    /// (`allocs::logindex`): refuses `<task>/secrets` as `open_file` does, not `private`.
    pub fn open_log_index(
        &self,
        alloc_id: &str,
        path: &str,
        tasks: &[String],
    ) -> Result<File, FsError> {
        let (fd, _) = self.open_regular(alloc_id, path, tasks, false)?;
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
        let (fd, st) = self.open_regular(alloc_id, path, tasks, true)?;
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

    /// Resolves `path` to a readable fd of a regular file that is not secret (nor private,
    /// unless `private` is false).
    fn open_regular(
        &self,
        alloc_id: &str,
        path: &str,
        tasks: &[String],
        private: bool,
    ) -> Result<(OwnedFd, Stat), FsError> {
        let rel = relative(path)?;
        let alloc = self.open_alloc(alloc_id)?;
        let mut guard = ProtectedDirs::new(alloc.as_fd(), tasks)?;
        if !private {
            guard.private.clear();
        }
        // A file replaced by rename between the probe and the open (what every atomic
        // writer does) is simply opened again: the name always pointed at some file.
        for _ in 0..REPLACED_ATTEMPTS {
            match open_checked(alloc.as_fd(), rel, &guard)? {
                Some(opened) => return Ok(opened),
                None => continue,
            }
        }
        Err(FsError::Io("file keeps changing while opening".into()))
    }
}

/// One probe-then-open of `rel`: `None` when the name was pointed at another inode in
/// between (the caller tries again).
fn open_checked(
    alloc: BorrowedFd<'_>,
    rel: &str,
    guard: &ProtectedDirs,
) -> Result<Option<(OwnedFd, Stat)>, FsError> {
    // O_PATH first: it neither blocks on a FIFO nor has device side
    // effects, so the file type can be checked before any real open.
    let probe = open_beneath(alloc, rel, OFlags::PATH).map_err(map_errno)?;
    let first = rustix::fs::fstat(&probe).map_err(map_errno)?;
    require_regular(&first)?;
    guard.check(probe.as_fd())?;

    // NONBLOCK so that if the path was swapped for a FIFO in between, the
    // open still returns at once (and then fails the inode comparison).
    let file = match open_beneath(
        alloc,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
    ) {
        Ok(file) => file,
        // Swapped for a directory or removed and replaced in between: look again.
        Err(Errno::ISDIR | Errno::NOENT) => return Ok(None),
        Err(e) => return Err(map_errno(e)),
    };
    let second = rustix::fs::fstat(&file).map_err(map_errno)?;
    if !same_inode(&first, &second) {
        return Ok(None);
    }
    // The returned fd is what the caller reads, so judge it as well.
    guard.check(file.as_fd())?;

    // Regular-file reads ignore O_NONBLOCK, but callers may hand the fd
    // to code that checks it; give back a plain blocking fd.
    let flags = rustix::fs::fcntl_getfl(&file).map_err(map_errno)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(map_errno)?;
    Ok(Some((file, second)))
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

/// Whether the re-opened fd is the regular file that was type-checked through `O_PATH`.
fn same_inode(first: &Stat, second: &Stat) -> bool {
    let regular = FileType::from_raw_mode(second.st_mode) == FileType::RegularFile;
    first.st_dev == second.st_dev && first.st_ino == second.st_ino && regular
}

fn read_range(fd: BorrowedFd<'_>, st: &Stat, offset: u64, len: u32) -> Result<Vec<u8>, FsError> {
    // No file extends past i64::MAX, and the kernel rejects a read whose end
    // would (EINVAL); such offsets are simply past the end of the file.
    let max_offset = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
    if offset >= max_offset {
        return Ok(Vec::new());
    }
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    // Size the buffer from the file, not from `len`, so a small file with a
    // huge `len` stays cheap; the file may still grow while being read.
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let expected = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut pos = offset;
    while out.len() < want {
        let start = out.len();
        let room = usize::try_from(max_offset - pos).unwrap_or(usize::MAX);
        // What the file held when it was opened, but at least a probe's worth in case it
        // grew since; the kernel writes straight into the spare capacity, so a large `len`
        // on a small (or exhausted) file never touches memory it does not fill.
        let chunk = (want - start)
            .min(READ_CHUNK)
            .min(room)
            .min(expected.saturating_sub(start).max(READ_PROBE));
        if chunk == 0 {
            break;
        }
        out.reserve_exact(chunk);
        match rustix::io::pread(fd, rustix::buffer::spare_capacity(&mut out), pos) {
            Ok(0) => break,
            Ok(n) => pos = pos.saturating_add(u64::try_from(n).unwrap_or(u64::MAX)),
            Err(Errno::INTR) => {}
            Err(e) => return Err(map_errno(e)),
        }
    }
    // The allocator may have given more capacity than asked, and the kernel filled it.
    out.truncate(want);
    Ok(out)
}

pub(super) fn file_info(name: String, st: &Stat) -> FileInfo {
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
pub(super) fn map_errno(e: Errno) -> FsError {
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
mod tests;
