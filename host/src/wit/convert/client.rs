//! The client's state across the boundary: allocations, files and usage, as `From` impls.

use caravan_core::host as core;

use crate::wit::{allocations, filesystem, stats};

impl From<allocations::ClientStatus> for core::ClientStatus {
    fn from(s: allocations::ClientStatus) -> Self {
        use allocations::ClientStatus as C;
        match s {
            C::Pending => core::ClientStatus::Pending,
            C::Running => core::ClientStatus::Running,
            C::Complete => core::ClientStatus::Complete,
            C::Failed => core::ClientStatus::Failed,
            C::Lost => core::ClientStatus::Lost,
        }
    }
}

impl From<core::ClientStatus> for allocations::ClientStatus {
    fn from(s: core::ClientStatus) -> Self {
        use allocations::ClientStatus as C;
        match s {
            core::ClientStatus::Pending => C::Pending,
            core::ClientStatus::Running => C::Running,
            core::ClientStatus::Complete => C::Complete,
            core::ClientStatus::Failed => C::Failed,
            core::ClientStatus::Lost => C::Lost,
        }
    }
}

impl From<allocations::TaskStatus> for core::TaskStatus {
    fn from(s: allocations::TaskStatus) -> Self {
        use allocations::TaskStatus as T;
        match s {
            T::Pending => core::TaskStatus::Pending,
            T::Running => core::TaskStatus::Running,
            T::Dead => core::TaskStatus::Dead,
        }
    }
}

impl From<core::TaskStatus> for allocations::TaskStatus {
    fn from(s: core::TaskStatus) -> Self {
        use allocations::TaskStatus as T;
        match s {
            core::TaskStatus::Pending => T::Pending,
            core::TaskStatus::Running => T::Running,
            core::TaskStatus::Dead => T::Dead,
        }
    }
}

impl From<allocations::TaskState> for core::TaskState {
    fn from(t: allocations::TaskState) -> Self {
        core::TaskState {
            name: t.name,
            state: t.state.into(),
            failed: t.failed,
            started_at: t.started_at.map(Into::into),
            finished_at: t.finished_at.map(Into::into),
            restarts: t.restarts,
            last_restart: t.last_restart.map(Into::into),
        }
    }
}

impl From<core::TaskState> for allocations::TaskState {
    fn from(t: core::TaskState) -> Self {
        allocations::TaskState {
            name: t.name,
            state: t.state.into(),
            failed: t.failed,
            started_at: t.started_at.map(Into::into),
            finished_at: t.finished_at.map(Into::into),
            restarts: t.restarts,
            last_restart: t.last_restart.map(Into::into),
        }
    }
}

impl From<allocations::Allocation> for core::Allocation {
    fn from(a: allocations::Allocation) -> Self {
        core::Allocation {
            id: a.id,
            namespace: a.namespace,
            job_id: a.job_id,
            task_group: a.task_group,
            client_status: a.client_status.into(),
            tasks: a.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core::Allocation> for allocations::Allocation {
    fn from(a: core::Allocation) -> Self {
        allocations::Allocation {
            id: a.id,
            namespace: a.namespace,
            job_id: a.job_id,
            task_group: a.task_group,
            client_status: a.client_status.into(),
            tasks: a.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<allocations::CollectError> for core::CollectError {
    fn from(e: allocations::CollectError) -> Self {
        match e {
            allocations::CollectError::NotFound => core::CollectError::NotFound,
            allocations::CollectError::NotTerminal => core::CollectError::NotTerminal,
            allocations::CollectError::Io(message) => core::CollectError::Io(message),
        }
    }
}

impl From<allocations::LifecycleError> for core::LifecycleError {
    fn from(e: allocations::LifecycleError) -> Self {
        use allocations::LifecycleError as E;
        match e {
            E::NotFound => core::LifecycleError::NotFound,
            E::UnknownTask => core::LifecycleError::UnknownTask,
            E::NotRunning => core::LifecycleError::NotRunning,
            E::Terminal => core::LifecycleError::Terminal,
            E::UnknownSignal => core::LifecycleError::UnknownSignal,
            E::Io(message) => core::LifecycleError::Io(message),
        }
    }
}

impl From<filesystem::FileInfo> for core::FileInfo {
    fn from(f: filesystem::FileInfo) -> Self {
        core::FileInfo {
            name: f.name,
            size: f.size,
            mode: f.mode,
            modified: f.modified.into(),
            inode: f.inode,
        }
    }
}

impl From<filesystem::FsError> for core::FsError {
    fn from(e: filesystem::FsError) -> Self {
        use filesystem::FsError as E;
        match e {
            E::NotFound => core::FsError::NotFound,
            E::NotADirectory => core::FsError::NotADirectory,
            E::IsADirectory => core::FsError::IsADirectory,
            E::EscapesAllocDir => core::FsError::EscapesAllocDir,
            E::SecretFile => core::FsError::SecretFile,
            E::PrivateFile => core::FsError::PrivateFile,
            E::NotRegularFile => core::FsError::NotRegularFile,
            E::Io(message) => core::FsError::Io(message),
        }
    }
}

impl From<filesystem::LogMark> for core::LogMark {
    fn from(m: filesystem::LogMark) -> Self {
        core::LogMark {
            offset: m.offset,
            time: m.time.into(),
        }
    }
}

impl From<stats::DiskStats> for core::DiskStats {
    fn from(d: stats::DiskStats) -> Self {
        core::DiskStats {
            device: d.device,
            mountpoint: d.mountpoint,
            size: d.size,
            used: d.used,
            available: d.available,
            used_percent: d.used_percent,
            inodes_used_percent: d.inodes_used_percent,
        }
    }
}

impl From<stats::HostStats> for core::HostStats {
    fn from(s: stats::HostStats) -> Self {
        core::HostStats {
            memory: core::MemoryStats {
                total: s.memory.total,
                available: s.memory.available,
                used: s.memory.used,
                free: s.memory.free,
            },
            cpu: s
                .cpu
                .into_iter()
                .map(|c| core::CpuStats {
                    name: c.name,
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: s.disks.into_iter().map(Into::into).collect(),
            alloc_dir: s.alloc_dir.into(),
            uptime: s.uptime,
            cpu_ticks_consumed: s.cpu_ticks_consumed,
            taken_at: s.taken_at.into(),
        }
    }
}

impl From<stats::TaskUsage> for core::TaskUsage {
    fn from(t: stats::TaskUsage) -> Self {
        core::TaskUsage {
            task: t.task,
            processes: t
                .processes
                .into_iter()
                .map(|p| core::ProcessUsage {
                    pid: p.pid,
                    rss: p.rss,
                    swap: p.swap,
                    cpu_percent: p.cpu_percent,
                    user_mode: p.user_mode,
                    system_mode: p.system_mode,
                    total_ticks: p.total_ticks,
                })
                .collect(),
            taken_at: t.taken_at.into(),
        }
    }
}
