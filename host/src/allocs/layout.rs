//! Nomad's alloc-dir layout: under `<alloc root>/<alloc id>/`, the shared `alloc/` (with
//! `logs/`, `data/` and `tmp/`) and per task `<task>/` with `local/`, `secrets/`, `private/`
//! and a sticky `tmp/`. One place names these paths; the environment and the logs use them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::spec::AllocSpec;

/// An allocation's directory.
pub(super) fn alloc_dir(alloc_root: &Path, id: &str) -> PathBuf {
    alloc_root.join(id)
}

/// The directory every task of an allocation shares (`NOMAD_ALLOC_DIR`).
pub(super) fn shared_dir(alloc_dir: &Path) -> PathBuf {
    alloc_dir.join("alloc")
}

/// Where the tasks' log files go.
pub(super) fn logs_dir(alloc_dir: &Path) -> PathBuf {
    alloc_dir.join("alloc/logs")
}

/// Where a task's log files' arrival times go: in its `private/`, which no fs route reads
/// (`logindex`).
pub(super) fn log_index_dir(task_dir: &Path) -> PathBuf {
    task_dir.join("private").join(super::logindex::INDEX_DIR)
}

/// A task's own directory, its working directory.
pub(super) fn task_dir(alloc_dir: &Path, task: &str) -> PathBuf {
    alloc_dir.join(task)
}

/// A task's `local/` (`NOMAD_TASK_DIR`).
pub(super) fn local_dir(task_dir: &Path) -> PathBuf {
    task_dir.join("local")
}

/// A task's `secrets/` (`NOMAD_SECRETS_DIR`).
pub(super) fn secrets_dir(task_dir: &Path) -> PathBuf {
    task_dir.join("secrets")
}

/// Create the layout of an allocation under `alloc_dir`.
pub(super) fn create(alloc_dir: &Path, spec: &AllocSpec) -> Result<()> {
    for shared in ["alloc/logs", "alloc/data", "alloc/tmp"] {
        make_dir(&alloc_dir.join(shared), 0o777)?;
    }
    for task in &spec.tasks {
        let task_dir = task_dir(alloc_dir, &task.name);
        make_dir(&local_dir(&task_dir), 0o777)?;
        make_dir(&secrets_dir(&task_dir), 0o777)?;
        make_dir(&task_dir.join("private"), 0o777)?;
        make_dir(&task_dir.join("tmp"), 0o1777)?;
    }
    Ok(())
}

fn make_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of {}", path.display()))
}
