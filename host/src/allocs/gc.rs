//! Nomad's automatic client garbage collection: terminal allocations are kept (their logs
//! stay readable) until there are too many allocations or the alloc dir's filesystem fills
//! up; then the oldest terminal ones go first. Running allocations are never touched.

use std::sync::Arc;
use std::time::Duration;

use super::Registry;
use crate::util::disk::DiskUsage;

/// `client { gc_* }` settings, with Nomad's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GcConfig {
    /// How often the collector looks (`gc_interval`).
    pub interval: Duration,
    /// Allocations tracked before terminal ones are collected (`gc_max_allocs`).
    pub max_allocs: usize,
    /// Disk usage of the alloc dir's filesystem, in percent, from which terminal
    /// allocations are collected (`gc_disk_usage_threshold`).
    pub disk_usage_threshold: f64,
    /// The same for inodes (`gc_inode_usage_threshold`).
    pub inode_usage_threshold: f64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            max_allocs: 50,
            disk_usage_threshold: 80.0,
            inode_usage_threshold: 70.0,
        }
    }
}

/// Disk and inode usage of a filesystem, in percent.
pub type Usage = (f64, f64);

/// Run the collector every `config.interval` for the life of the agent.
pub fn start(registry: Arc<Registry>, alloc_root: std::path::PathBuf, config: GcConfig) {
    let spawned = std::thread::Builder::new()
        .name("alloc-gc".into())
        .spawn(move || {
            loop {
                std::thread::sleep(config.interval);
                collect_garbage(&registry, &config, || filesystem_usage(&alloc_root));
            }
        });
    if let Err(err) = spawned {
        tracing::error!("failed to start the allocation garbage collector: {err}");
    }
}

/// One pass: collect the oldest terminal allocations while more than `max_allocs` are
/// tracked, then while `usage()` is at or above a threshold. Returns how many went.
pub fn collect_garbage(
    registry: &Registry,
    config: &GcConfig,
    mut usage: impl FnMut() -> Usage,
) -> usize {
    let records = registry.list();
    let mut total = records.len();
    let mut terminal: Vec<_> = records
        .into_iter()
        .filter(|r| r.client_status.is_terminal())
        .map(|r| (r.finished_at(), r.spec.id))
        .collect();
    // Oldest last, to pop.
    terminal.sort_by(|a, b| b.cmp(a));
    let mut collected = 0;
    let mut collect = |id: &str, reason: &str| {
        tracing::info!("garbage-collecting allocation {id}: {reason}");
        match registry.collect(id) {
            Ok(()) => collected += 1,
            Err(err) => tracing::warn!("failed to collect allocation {id}: {err}"),
        }
    };
    while total > config.max_allocs {
        let Some((_, id)) = terminal.pop() else { break };
        collect(
            &id,
            &format!(
                "{total} allocations exceed gc_max_allocs = {}",
                config.max_allocs
            ),
        );
        total -= 1;
    }
    loop {
        let (disk, inodes) = usage();
        let reason = if disk >= config.disk_usage_threshold {
            format!("disk usage {disk:.1}% reaches gc_disk_usage_threshold")
        } else if inodes >= config.inode_usage_threshold {
            format!("inode usage {inodes:.1}% reaches gc_inode_usage_threshold")
        } else {
            break;
        };
        let Some((_, id)) = terminal.pop() else { break };
        collect(&id, &reason);
    }
    collected
}

/// Used space and used inodes of the filesystem holding `path`, in percent, as Nomad's GC
/// reads them (gopsutil's `UsedPercent`, root's reserve not counted: [`DiskUsage`]); 0 when
/// unknown, which never triggers a collection.
pub fn filesystem_usage(path: &std::path::Path) -> Usage {
    DiskUsage::of(path)
        .map(|u| (u.used_percent, u.inodes_used_percent))
        .unwrap_or((0.0, 0.0))
}

#[cfg(test)]
mod tests;
