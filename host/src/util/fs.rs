//! Writing files so that a crash never leaves half of one behind.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Create `dir` (and missing parents) readable by the agent's user only; an existing
/// directory is left as it is, with a warning if others may read it.
pub fn create_private_dir(dir: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create {what} {}", dir.display()))?;
    warn_if_wider(dir, 0o700, what);
    Ok(())
}

/// Warn when `path` grants more than `allowed` (group or others may read what only the
/// agent should). Nothing is changed: the operator decides.
pub fn warn_if_wider(path: &Path, allowed: u32, what: &str) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & !allowed != 0 {
        tracing::warn!(
            "{what} {} has mode {mode:04o}, wider than {allowed:04o}: others on this machine may read it (chmod {allowed:o} {0})",
            path.display()
        );
    }
}

/// Write `data` to a temporary file beside `path`, sync it, then rename it into place.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with_mode(path, data, 0o644)
}

/// [`write_atomic`] for files only the agent may read (they hold secrets).
pub fn write_atomic_private(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with_mode(path, data, 0o600)
}

fn write_atomic_with_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}
