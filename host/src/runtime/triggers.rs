//! The swap triggers that come from the machine rather than over HTTP: the `-core` file
//! changing on disk, and SIGHUP (handled in `agent::service`). Each reads the configured source and hands it to
//! [`Runtime::swap`], which checks, installs and logs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

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

/// Swap to the core file whenever it changes.
pub fn watch_file(runtime: Arc<Runtime>, path: &Path) -> Result<notify::RecommendedWatcher> {
    let source = CoreSource::File(path.to_path_buf());
    crate::util::watch::watch_files(&[path], DEBOUNCE, "core-watcher", move || {
        reload(&runtime, &source, Trigger::File)
    })
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
