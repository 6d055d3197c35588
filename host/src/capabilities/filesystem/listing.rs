//! A directory listing read a page at a time (the contract's `filesystem.listing`).
//!
//! The names are read and sorted when the listing opens, in the host's memory (a name and
//! an offset per entry); each entry is `lstat`ed only when its page is read, so the core
//! holds one page, never the directory, and a million entries list in bounded core memory.

use std::ffi::CStr;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

use super::alloc_fs::{AllocFs, FileInfo, FsError, file_info, map_errno};

impl AllocFs {
    /// Opens a directory for listing: its names are read now, each entry is `lstat`ed
    /// (symlinks not followed) when its page is read ([`Listing::next`]).
    pub fn list(&self, alloc_id: &str, path: &str) -> Result<Listing, FsError> {
        Listing::read(self.open_dir(alloc_id, path)?)
    }
}

/// The entries of one directory, handed out in byte order of their names.
pub struct Listing {
    /// The directory (`O_PATH`): every entry is `lstat`ed relative to it, never by path.
    dir: OwnedFd,
    /// Every name, each followed by its NUL.
    names: Vec<u8>,
    /// Where each name starts in `names`, sorted by the names' bytes.
    starts: Vec<usize>,
    /// How many of `starts` have been handed out.
    read: usize,
}

impl Listing {
    /// Reads the names of `dir` (without `.` and `..`) and sorts them.
    pub(super) fn read(dir: OwnedFd) -> Result<Self, FsError> {
        // O_PATH fds cannot be read, so reopen the very same directory via "." (no path
        // resolution that could be raced or escape).
        let reader = rustix::fs::openat(
            &dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(map_errno)?;
        let mut names = Vec::new();
        let mut starts = Vec::new();
        for entry in Dir::new(reader).map_err(map_errno)? {
            let entry = entry.map_err(map_errno)?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            starts.push(names.len());
            names.extend_from_slice(name.to_bytes_with_nul());
        }
        // A NUL sorts before every byte, so comparing with it is comparing the names.
        starts.sort_unstable_by(|a, b| names[*a..].cmp(&names[*b..]));
        Ok(Self {
            dir,
            names,
            starts,
            read: 0,
        })
    }

    /// Up to `max` more entries; fewer only when the listing is complete.
    pub fn next(&mut self, max: u32) -> Result<Vec<FileInfo>, FsError> {
        let left = self.starts.len() - self.read;
        let mut page = Vec::with_capacity(left.min(max as usize));
        while page.len() < max as usize && self.read < self.starts.len() {
            let start = self.starts[self.read];
            self.read += 1;
            let name = CStr::from_bytes_until_nul(&self.names[start..])
                .map_err(|_| FsError::Io("a listed name lost its end".into()))?;
            let st = match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed since the names were read: it is simply gone.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(map_errno(e)),
            };
            // Names are bytes on Linux; the API speaks String, so non-UTF-8 names are
            // shown lossily (the order is still the raw bytes').
            page.push(file_info(name.to_string_lossy().into_owned(), &st));
        }
        Ok(page)
    }
}
