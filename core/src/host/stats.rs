//! The usage samples the host takes: the node's (`/v1/client/stats`) and each task's.

use super::Timestamp;

/// One logical CPU's use, in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuStats {
    /// The CPU's name (`cpu0`, …).
    pub name: String,
    /// Percent of time in user mode.
    pub user: f64,
    /// Percent of time in kernel mode.
    pub system: f64,
    /// Percent of time idle.
    pub idle: f64,
    /// Percent busy (user + system).
    pub total_percent: f64,
    /// Busy time in ticks, as Nomad's `TotalTicks`.
    pub total_ticks: f64,
}

/// Host memory in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryStats {
    /// All memory.
    pub total: u64,
    /// What can be given to new processes without swapping.
    pub available: u64,
    /// In use.
    pub used: u64,
    /// Not in use at all.
    pub free: u64,
}

/// Usage of one filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskStats {
    /// The block device.
    pub device: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// Capacity in bytes.
    pub size: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes free for unprivileged users.
    pub available: u64,
    /// `used` as a percentage of `size`.
    pub used_percent: f64,
    /// Inodes in use, as a percentage.
    pub inodes_used_percent: f64,
}

/// A host-wide sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStats {
    /// Memory of the whole host.
    pub memory: MemoryStats,
    /// Each logical CPU.
    pub cpu: Vec<CpuStats>,
    /// Every mounted disk.
    pub disks: Vec<DiskStats>,
    /// The disk that holds the allocation directory.
    pub alloc_dir: DiskStats,
    /// Seconds since boot.
    pub uptime: u64,
    /// CPU ticks consumed by the host, as Nomad's `CPUTicksConsumed`.
    pub cpu_ticks_consumed: f64,
    /// When the sample was taken.
    pub taken_at: Timestamp,
}

/// One process of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessUsage {
    /// The process id.
    pub pid: u32,
    /// Resident memory in bytes.
    pub rss: u64,
    /// Swapped-out memory in bytes.
    pub swap: u64,
    /// CPU use, in percent of one core.
    pub cpu_percent: f64,
    /// Percent of that in user mode.
    pub user_mode: f64,
    /// Percent of that in kernel mode.
    pub system_mode: f64,
    /// CPU time in ticks, as Nomad's `TotalTicks`.
    pub total_ticks: f64,
}

/// The latest sample of one running task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUsage {
    /// The task's name.
    pub task: String,
    /// Each process of the task's tree.
    pub processes: Vec<ProcessUsage>,
    /// When the sample was taken.
    pub taken_at: Timestamp,
}
