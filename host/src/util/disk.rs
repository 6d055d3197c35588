//! A filesystem's usage as Nomad reports it (gopsutil's `disk.Usage`), for the host's
//! `DiskStats`, the allocation directory's `AllocDirStats` and the GC's thresholds alike.
//!
//! Blocks reserved for root are neither used nor available: `Used = (blocks - free) * size`,
//! `Available = available-to-users * size`, and `UsedPercent = Used / (Used + Available)`, as
//! `df` prints it. Dividing by the total instead counts the reserve as used (gopsutil#562).

use std::path::Path;

/// Usage of one filesystem, in bytes and percent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiskUsage {
    /// `Size`: every block.
    pub size: u64,
    /// `Used`: blocks no longer free.
    pub used: u64,
    /// `Available`: blocks an unprivileged user may still take.
    pub available: u64,
    /// `UsedPercent`: `used / (used + available) * 100`.
    pub used_percent: f64,
    /// `InodesUsedPercent`: used inodes as a percent of all (0 without inode counts).
    pub inodes_used_percent: f64,
}

/// The fields of `statvfs` the figures come from.
#[derive(Clone, Copy, Debug)]
pub struct Statvfs {
    /// The unit of the block counts (`f_frsize`; on Linux also gopsutil's `Bsize`).
    pub block_size: u64,
    /// Size in blocks (`f_blocks`).
    pub blocks: u64,
    /// Free blocks (`f_bfree`).
    pub blocks_free: u64,
    /// Blocks free for unprivileged users (`f_bavail`).
    pub blocks_available: u64,
    /// Inodes (`f_files`).
    pub files: u64,
    /// Free inodes (`f_ffree`).
    pub files_free: u64,
}

impl DiskUsage {
    /// The filesystem holding `path`; `None` when it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let st = rustix::fs::statvfs(path).ok()?;
        Some(Self::from_statvfs(&Statvfs {
            block_size: st.f_frsize,
            blocks: st.f_blocks,
            blocks_free: st.f_bfree,
            blocks_available: st.f_bavail,
            files: st.f_files,
            files_free: st.f_ffree,
        }))
    }

    /// gopsutil's arithmetic on one reading (a filesystem without inode counts reports
    /// no inode usage; percentages that would divide by zero are 0).
    pub fn from_statvfs(st: &Statvfs) -> Self {
        let bytes = |blocks: u64| blocks.saturating_mul(st.block_size);
        let used = bytes(st.blocks.saturating_sub(st.blocks_free));
        let available = bytes(st.blocks_available);
        let percent = |part: u64, whole: u64| match whole {
            0 => 0.0,
            whole => part as f64 / whole as f64 * 100.0,
        };
        let inodes_used_percent = if st.files < st.files_free {
            0.0
        } else {
            percent(st.files - st.files_free, st.files)
        };
        Self {
            size: bytes(st.blocks),
            used,
            available,
            used_percent: percent(used, used.saturating_add(available)),
            inodes_used_percent,
        }
    }
}

#[cfg(test)]
mod tests;
