//! `filesystem`: allocation-relative reads, with containment enforced by the kernel
//! (`alloc_fs`).

mod alloc_fs;
mod listing;

pub use alloc_fs::{AllocFs, FileInfo, FsError};
pub use listing::Listing;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::{CoreState, HostContext};
use crate::allocs::{logindex, logmon};
use crate::wit::{ListingPages, PageSource, filesystem, types};

impl filesystem::Host for CoreState {
    fn stat(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<filesystem::FileInfo, filesystem::FsError> {
        self.ctx
            .filesystem
            .stat(&alloc_id, &path)
            .map(file_info)
            .map_err(fs_error)
    }

    fn list(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<ListingPages>, filesystem::FsError> {
        let listing = self
            .ctx
            .filesystem
            .list(&alloc_id, &path)
            .map_err(fs_error)?;
        self.table
            .push(Box::new(listing) as ListingPages)
            .map_err(|_| filesystem::FsError::Io("too many listings".into()))
    }

    fn read_at(
        &mut self,
        alloc_id: String,
        path: String,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, filesystem::FsError> {
        let tasks = task_names(&self.ctx, &alloc_id);
        self.ctx
            .filesystem
            .read_at(&alloc_id, &path, offset, length, &tasks)
            .map_err(fs_error)
    }

    fn log_marks(
        &mut self,
        alloc_id: String,
        path: String,
        from: u64,
        to: u64,
    ) -> Result<Vec<filesystem::LogMark>, filesystem::FsError> {
        let fs = &self.ctx.filesystem;
        fs.stat(&alloc_id, &path).map_err(fs_error)?;
        let tasks = task_names(&self.ctx, &alloc_id);
        // The index lives in the task's `private/`, which the fs routes never read.
        let Some(file) = logindex::index_paths(&path, &tasks)
            .iter()
            .find_map(|index| fs.open_log_index(&alloc_id, index, &tasks).ok())
        else {
            return Ok(Vec::new());
        };
        let marks = logindex::covering(&file, from, to)
            .map_err(|e| filesystem::FsError::Io(format!("reading the log index: {e}")))?;
        Ok(marks
            .unwrap_or_default()
            .into_iter()
            .map(|(offset, nanos)| filesystem::LogMark {
                offset,
                time: types::Timestamp::from_unix_nanos(nanos),
            })
            .collect())
    }

    fn now(&mut self) -> types::Timestamp {
        types::Timestamp::from_unix_nanos(logmon::unix_nanos(std::time::SystemTime::now()))
    }
}

impl PageSource for Listing {
    fn next_page(&mut self, max: u32) -> Result<Vec<filesystem::FileInfo>, filesystem::FsError> {
        self.next(max)
            .map(|infos| infos.into_iter().map(file_info).collect())
            .map_err(fs_error)
    }
}

impl filesystem::HostListing for CoreState {
    fn next(
        &mut self,
        listing: Resource<ListingPages>,
        max: u32,
    ) -> Result<Vec<filesystem::FileInfo>, filesystem::FsError> {
        self.table
            .get_mut(&listing)
            .map_err(|_| filesystem::FsError::Io("no such listing".into()))?
            .next_page(max)
    }

    fn drop(&mut self, listing: Resource<ListingPages>) -> wasmtime::Result<()> {
        self.table.delete(listing)?;
        Ok(())
    }
}

/// The task names of an allocation, whose `secrets` and `private` dirs stay unread.
pub fn task_names(ctx: &HostContext, alloc_id: &str) -> Vec<String> {
    ctx.allocations
        .get(alloc_id)
        .map(|r| r.spec.tasks.into_iter().map(|t| t.name).collect())
        .unwrap_or_default()
}

fn file_info(info: FileInfo) -> filesystem::FileInfo {
    filesystem::FileInfo {
        name: info.name,
        size: info.size,
        mode: info.mode,
        modified: types::Timestamp {
            seconds: info.modified.0,
            nanoseconds: info.modified.1,
        },
        inode: info.inode,
    }
}

/// A filesystem error in the contract's terms.
pub fn fs_error(err: FsError) -> filesystem::FsError {
    use filesystem::FsError as E;
    match err {
        FsError::NotFound => E::NotFound,
        FsError::NotADirectory => E::NotADirectory,
        FsError::IsADirectory => E::IsADirectory,
        FsError::EscapesAllocDir => E::EscapesAllocDir,
        FsError::SecretFile => E::SecretFile,
        FsError::PrivateFile => E::PrivateFile,
        FsError::NotRegularFile => E::NotRegularFile,
        FsError::Io(message) => E::Io(message),
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    filesystem::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
