//! Writing files so that a crash never leaves half of one behind.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

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
