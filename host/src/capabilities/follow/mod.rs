//! `follow`: wake a stream when the file or directory it follows changes (the one shared watcher: `util::follow`).

pub use crate::util::follow::{Follower, Subscription};
use wasmtime::component::{HasSelf, Linker, Resource};

use super::CoreState;
use super::filesystem::fs_error;
use crate::wit::{filesystem, follow};

impl follow::Host for CoreState {
    fn watch(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<Subscription>, filesystem::FsError> {
        let fs = &self.ctx.filesystem;
        let target = fs.resolve(&alloc_id, &path).map_err(fs_error)?;
        let info = fs.stat(&alloc_id, &path).map_err(fs_error)?;
        let is_dir = info.mode & libc::S_IFMT == libc::S_IFDIR;
        let subscription = self
            .ctx
            .follow
            .subscribe(&target, is_dir, self.waker.clone())
            .map_err(|e| filesystem::FsError::Io(format!("{e:#}")))?;
        self.table
            .push(subscription)
            .map_err(|_| filesystem::FsError::Io("too many subscriptions".into()))
    }
}

impl follow::HostSubscription for CoreState {
    fn drop(&mut self, subscription: Resource<Subscription>) -> wasmtime::Result<()> {
        self.table.delete(subscription)?;
        Ok(())
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    follow::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
