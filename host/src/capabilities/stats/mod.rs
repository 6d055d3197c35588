//! `stats`: the host's latest sample (`sampler`) and each task's process usage (sampled by
//! `crate::allocs`).

mod sampler;

pub use sampler::{CpuSample, DiskSample, HostSample, HostStats, MemorySample};
use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::wit::stats;

impl stats::Host for CoreState {
    fn host(&mut self) -> Option<stats::HostStats> {
        let sample = self.ctx.stats.latest()?;
        Some(stats::HostStats {
            memory: stats::MemoryStats {
                total: sample.memory.total,
                available: sample.memory.available,
                used: sample.memory.used,
                free: sample.memory.free,
            },
            cpu: sample
                .cpus
                .into_iter()
                .map(|c| stats::CpuStats {
                    name: c.name,
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: sample.disks.into_iter().map(disk).collect(),
            alloc_dir: disk(sample.alloc_dir),
            uptime: sample.uptime,
            cpu_ticks_consumed: sample.cpu_ticks_consumed,
            taken_at: sample.taken_at.into(),
        })
    }

    /// The latest background sample of each running task's process tree.
    fn allocation(&mut self, alloc_id: String) -> Vec<stats::TaskUsage> {
        self.ctx
            .allocations
            .usage(&alloc_id)
            .into_iter()
            .map(|task| stats::TaskUsage {
                task: task.task,
                processes: task
                    .processes
                    .into_iter()
                    .map(|p| stats::ProcessUsage {
                        pid: p.pid,
                        rss: p.rss,
                        swap: p.swap,
                        cpu_percent: p.cpu_percent,
                        user_mode: p.user_mode,
                        system_mode: p.system_mode,
                        total_ticks: p.total_ticks,
                    })
                    .collect(),
                taken_at: task.taken_at.into(),
            })
            .collect()
    }
}

fn disk(d: DiskSample) -> stats::DiskStats {
    stats::DiskStats {
        device: d.device,
        mountpoint: d.mountpoint,
        size: d.size,
        used: d.used,
        available: d.available,
        used_percent: d.used_percent,
        inodes_used_percent: d.inodes_used_percent,
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    stats::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
