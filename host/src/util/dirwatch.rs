//! Run a callback when a directory changes, with bursts of events (editors, atomic
//! renames, several files written together) settled into one call.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher};

/// Watch `dir` (and, if `recursive`, everything below it); after each burst of events
/// quiet for `settle`, call `on_change` on a thread named `name`. Dropping the returned
/// watcher stops the watching; the thread ends with it.
pub fn watch_dir(
    dir: &Path,
    recursive: bool,
    settle: Duration,
    name: &str,
    mut on_change: impl FnMut() + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Our own reads of the directory's files are events too; only changes count.
        if event.is_ok_and(|e| changes_something(&e.kind)) {
            let _ = tx.send(());
        }
    })?;
    let mode = if recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    watcher
        .watch(dir, mode)
        .with_context(|| format!("failed to watch {}", dir.display()))?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(settle).is_ok() {}
                on_change();
            }
        })?;
    Ok(watcher)
}

/// notify reports opens and reads too (inotify `IN_OPEN`); a watcher that reads what it watches
/// (a stream its file, the agent its spec and ACL files) would then wake itself again, and again:
/// a loop that burns a core per stream. Only a close after writing counts among the accesses (the
/// write itself is also a modification).
pub fn changes_something(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}
