//! The one file watcher: run a callback when a directory, or some files, change, with
//! bursts of events (editors, atomic renames, several files written together) settled
//! into one call, and one rule for what counts as a change ([`changes_content`]).
//!
//! Files are watched through their parent directory: a watch on the file itself dies with
//! the first atomic rename over it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

/// Watch `dir` (and, if `recursive`, everything below it); after each burst of changes
/// quiet for `settle`, call `on_change` on a thread named `name`. Dropping the returned
/// watcher stops the watching; the thread ends with it.
pub fn watch_dir(
    dir: &Path,
    recursive: bool,
    settle: Duration,
    name: &str,
    on_change: impl FnMut() + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    let mode = if recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    spawn(
        &[dir.to_path_buf()],
        mode,
        |_| true,
        settle,
        name,
        on_change,
    )
}

/// Watch `files` (through their directories, only events naming one of them count); after
/// each burst of changes quiet for `settle`, call `on_change` on a thread named `name`.
/// Dropping the returned watcher stops the watching; the thread ends with it.
pub fn watch_files(
    files: &[&Path],
    settle: Duration,
    name: &str,
    on_change: impl FnMut() + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    let files: Vec<PathBuf> = files
        .iter()
        .map(std::path::absolute)
        .collect::<Result<_, _>>()?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in &files {
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .with_context(|| format!("{} has no parent directory", file.display()))?;
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let named = move |path: &Path| files.iter().any(|file| file == path);
    spawn(
        &dirs,
        RecursiveMode::NonRecursive,
        named,
        settle,
        name,
        on_change,
    )
}

/// Watch `dirs`; events that change something and name a path `relevant` accepts wake a
/// thread that settles each burst into one `on_change`.
fn spawn(
    dirs: &[PathBuf],
    mode: RecursiveMode,
    relevant: impl Fn(&Path) -> bool + Send + 'static,
    settle: Duration,
    name: &str,
    mut on_change: impl FnMut() + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if changes_content(&event.kind) && event.paths.iter().any(|p| relevant(p)) {
            let _ = tx.send(());
        }
    })?;
    for dir in dirs {
        watcher
            .watch(dir, mode)
            .with_context(|| format!("failed to watch {}", dir.display()))?;
    }
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

/// What counts as a change: writes, creations, removals and renames. notify also reports
/// opens, reads and attribute changes (inotify `IN_OPEN`, `IN_ACCESS`, `IN_ATTRIB`); a
/// watcher that reads what it watches (a stream its file, the agent its core, spec, ACL
/// and TLS files) would then wake itself again, and again: a loop that burns a core. Among
/// the accesses only a close after writing counts (the write itself is also a
/// modification).
pub fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}
