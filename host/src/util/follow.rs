//! Following files without polling: one inotify instance (through notify) shared by every
//! stream, with subscriptions added and removed as streams come and go.
//!
//! One watcher per stream would run out of inotify instances at ~128 streams, so the
//! daemon has one and fans events out. Files are watched through their parent directory:
//! a watch on the file itself dies with the first atomic rename.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::util::lock;
use crate::util::watch::changes_content;

/// The daemon's one watcher and who listens to what.
pub struct Follower {
    /// Held while watching or unwatching, which waits for notify's event thread; so it is
    /// never held together with `state`, which that thread takes to wake streams (holding
    /// both deadlocked when the last stream of a directory ended during an event).
    watching: Mutex<Watching>,
    state: Arc<Mutex<Subscribers>>,
}

struct Watching {
    watcher: notify::RecommendedWatcher,
    /// How many subscriptions keep each directory watched.
    dirs: HashMap<PathBuf, usize>,
}

#[derive(Default)]
struct Subscribers {
    next_id: u64,
    by_id: HashMap<u64, Interest>,
}

struct Interest {
    dir: PathBuf,
    /// `None`: any entry of `dir`; `Some`: only this entry.
    name: Option<OsString>,
    waker: Arc<Notify>,
}

/// Interest held by one stream; dropping it unsubscribes (and unwatches an unused directory).
pub struct Subscription {
    id: u64,
    follower: Weak<Follower>,
}

impl Follower {
    /// Start the shared watcher.
    pub fn new() -> Result<Arc<Self>> {
        let state = Arc::new(Mutex::new(Subscribers::default()));
        let events = state.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && changes_content(&event.kind)
            {
                wake(&events, &event.paths);
            }
        })
        .context("failed to start the file watcher")?;
        Ok(Arc::new(Self {
            watching: Mutex::new(Watching {
                watcher,
                dirs: HashMap::new(),
            }),
            state,
        }))
    }

    /// Wake `waker` whenever `target` changes: its content or existence for a file, any
    /// entry for a directory.
    pub fn subscribe(
        self: &Arc<Self>,
        target: &Path,
        is_dir: bool,
        waker: Arc<Notify>,
    ) -> Result<Subscription> {
        let (dir, name) = if is_dir {
            (target.to_path_buf(), None)
        } else {
            let dir = target
                .parent()
                .context("a file to follow has no parent directory")?;
            (dir.to_path_buf(), target.file_name().map(OsString::from))
        };
        {
            let mut watching = lock(&self.watching);
            let Watching { watcher, dirs } = &mut *watching;
            let count = dirs.entry(dir.clone()).or_insert(0);
            if *count == 0 {
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .context("failed to watch a directory")?;
            }
            *count += 1;
        }
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.by_id.insert(id, Interest { dir, name, waker });
        Ok(Subscription {
            id,
            follower: Arc::downgrade(self),
        })
    }

    /// How many subscriptions are alive (for tests and diagnostics).
    pub fn subscriptions(&self) -> usize {
        lock(&self.state).by_id.len()
    }

    fn unsubscribe(&self, id: u64) {
        let Some(interest) = lock(&self.state).by_id.remove(&id) else {
            return;
        };
        let mut watching = lock(&self.watching);
        if let Some(count) = watching.dirs.get_mut(&interest.dir) {
            *count -= 1;
            if *count == 0 {
                watching.dirs.remove(&interest.dir);
                // The directory may be gone already, which removed the watch with it.
                let _ = watching.watcher.unwatch(&interest.dir);
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(follower) = self.follower.upgrade() {
            follower.unsubscribe(self.id);
        }
    }
}

fn wake(state: &Mutex<Subscribers>, paths: &[PathBuf]) {
    let state = lock(state);
    for path in paths {
        let (parent, name) = (path.parent(), path.file_name());
        for interest in state.by_id.values() {
            let entry_of_dir = parent == Some(interest.dir.as_path())
                && interest.name.as_deref().is_none_or(|n| Some(n) == name);
            if entry_of_dir || path == &interest.dir {
                interest.waker.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests;
