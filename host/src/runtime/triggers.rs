//! The swap triggers that come from the machine rather than over HTTP: the `-core` file
//! changing on disk, and SIGHUP (handled in `agent::service`). Each reads the configured source and hands it to
//! [`Runtime::swap`], which checks, installs and logs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

use crate::runtime::{DEFAULT_CORE, MAX_CORE_SIZE, Runtime, Trigger};

/// Events on the core file closer together than this are one change: an in-place write is
/// a burst of events, an atomic rename a few.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Where the agent's core comes from, hence what a reload reads.
#[derive(Debug, Clone)]
pub enum CoreSource {
    /// `-core PATH` (absolute, so the watcher and reloads agree on it).
    File(PathBuf),
    /// The core built into the binary.
    Builtin,
}

impl CoreSource {
    /// The source's current bytes. A file larger than a core may be is cut one byte past
    /// the limit, enough for the checks to reject it without reading it all.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            CoreSource::Builtin => Ok(DEFAULT_CORE.to_vec()),
            CoreSource::File(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("failed to open core {}", path.display()))?;
                let mut bytes = Vec::new();
                file.take(MAX_CORE_SIZE as u64 + 1)
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("failed to read core {}", path.display()))?;
                Ok(bytes)
            }
        }
    }
}

/// Swap to the core file whenever it changes. The parent directory is watched, not the
/// file: a watch on a file dies with the first atomic rename over it.
pub fn watch_file(runtime: Arc<Runtime>, path: &Path) -> Result<notify::RecommendedWatcher> {
    let dir = path
        .parent()
        .context("the core file has no parent directory")?
        .to_path_buf();
    let name = path
        .file_name()
        .context("the core path names no file")?
        .to_os_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if changes_content(&event.kind) && event.paths.iter().any(|p| p.file_name() == Some(&name))
        {
            let _ = tx.send(());
        }
    })?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("failed to watch {}", dir.display()))?;
    let source = CoreSource::File(path.to_path_buf());
    std::thread::Builder::new()
        .name("core-watcher".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                reload(&runtime, &source, Trigger::File);
            }
        })?;
    Ok(watcher)
}

/// Reads, opens and attribute changes (ours included: the swap reads the file) are not
/// new content; writes, creations and renames are.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

/// Read the source and swap to it; the swap logs its outcome.
pub fn reload(runtime: &Runtime, source: &CoreSource, trigger: Trigger) {
    let bytes = match source.read() {
        Ok(bytes) => bytes,
        Err(err) => {
            let active = runtime.active();
            tracing::warn!(
                "core reload ({trigger}): {err:#}; still serving {} (sha256 {})",
                active.version,
                active.sha256
            );
            return;
        }
    };
    // An in-place write starts by truncating: wait for the write that follows.
    if bytes.is_empty() {
        tracing::info!(
            "core reload ({trigger}): the core file is empty; waiting for it to be written"
        );
        return;
    }
    // The swap logs acceptance and rejection alike.
    let _ = runtime.swap(&bytes, trigger);
}
