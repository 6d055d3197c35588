//! Bodies of `/v1/client/stats` (`HostStats`) and `/v1/client/allocation/:id/stats`
//! (`AllocResourceUsage`), with Nomad's field names and float/integer types.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::host::{DiskStats, HostStats, ProcessUsage, TaskUsage};

/// What Nomad's pid-based executor says it measures.
const MEASURED_MEMORY: [&str; 2] = ["RSS", "Swap"];
const MEASURED_CPU: [&str; 3] = ["System Mode", "User Mode", "Percent"];

/// `HostStats`; `null` before the first sample, as Nomad.
pub fn host_body(stats: Option<&HostStats>) -> Value {
    let Some(stats) = stats else {
        return Value::Null;
    };
    let cpus: Vec<Value> = stats
        .cpu
        .iter()
        .map(|cpu| {
            json!({
                "CPU": cpu.name,
                "Idle": cpu.idle,
                "System": cpu.system,
                "TotalPercent": cpu.total_percent,
                "TotalTicks": cpu.total_ticks,
                "User": cpu.user,
            })
        })
        .collect();
    let disks = if stats.disks.is_empty() {
        Value::Null
    } else {
        stats.disks.iter().map(disk_body).collect()
    };
    json!({
        "AllocDirStats": disk_body(&stats.alloc_dir),
        "CPU": cpus,
        "CPUTicksConsumed": stats.cpu_ticks_consumed,
        "DeviceStats": Value::Null,
        "DiskStats": disks,
        "Memory": {
            "Available": stats.memory.available,
            "Free": stats.memory.free,
            "Total": stats.memory.total,
            "Used": stats.memory.used,
        },
        "Timestamp": stats.taken_at.unix_nanos(),
        "Uptime": stats.uptime,
    })
}

fn disk_body(disk: &DiskStats) -> Value {
    json!({
        "Available": disk.available,
        "Device": disk.device,
        "InodesUsedPercent": disk.inodes_used_percent,
        "Mountpoint": disk.mountpoint,
        "Size": disk.size,
        "Used": disk.used,
        "UsedPercent": disk.used_percent,
    })
}

/// Sums of one or more processes, the unit Nomad's `ResourceUsage` reports.
#[derive(Debug, Default, Clone, PartialEq)]
struct Usage {
    rss: u64,
    swap: u64,
    percent: f64,
    user_mode: f64,
    system_mode: f64,
    total_ticks: f64,
    measured: bool,
}

impl Usage {
    fn of(process: &ProcessUsage) -> Self {
        Self {
            rss: process.rss,
            swap: process.swap,
            percent: process.cpu_percent,
            user_mode: process.user_mode,
            system_mode: process.system_mode,
            total_ticks: process.total_ticks,
            measured: true,
        }
    }

    fn add(&mut self, other: &Usage) {
        self.rss += other.rss;
        self.swap += other.swap;
        self.percent += other.percent;
        self.user_mode += other.user_mode;
        self.system_mode += other.system_mode;
        self.total_ticks += other.total_ticks;
        self.measured |= other.measured;
    }

    /// A `ResourceUsage` object; `Measured` is `null` when nothing was summed, as Nomad.
    fn body(&self) -> Value {
        let measured = |names: &[&str]| {
            if self.measured {
                Value::from(names.iter().map(|n| Value::from(*n)).collect::<Vec<_>>())
            } else {
                Value::Null
            }
        };
        json!({
            "CpuStats": {
                "Measured": measured(&MEASURED_CPU),
                "Percent": self.percent,
                "SystemMode": self.system_mode,
                "ThrottledPeriods": 0,
                "ThrottledTime": 0,
                "TotalTicks": self.total_ticks,
                "UserMode": self.user_mode,
            },
            "DeviceStats": [],
            "MemoryStats": {
                "Cache": 0,
                "KernelMaxUsage": 0,
                "KernelUsage": 0,
                "MappedFile": 0,
                "MaxUsage": 0,
                "Measured": measured(&MEASURED_MEMORY),
                "RSS": self.rss,
                "Swap": self.swap,
                "Usage": 0,
            },
        })
    }
}

/// `AllocResourceUsage` over the sampled (running) tasks, optionally only `task`.
/// An unknown task is not an error: the aggregate is zero and `Tasks` is `{}`.
pub fn allocation_body(tasks: &[TaskUsage], only: Option<&str>) -> Value {
    let mut total = Usage::default();
    let mut timestamp = 0i64;
    let mut task_bodies = Map::new();
    let mut seen = BTreeSet::new();
    for task in tasks
        .iter()
        .filter(|t| only.is_none_or(|name| t.task == name))
    {
        if !seen.insert(task.task.as_str()) {
            continue;
        }
        let mut usage = Usage::default();
        let mut pids = Map::new();
        for process in &task.processes {
            let one = Usage::of(process);
            usage.add(&one);
            pids.insert(process.pid.to_string(), one.body());
        }
        total.add(&usage);
        let taken = task.taken_at.unix_nanos();
        timestamp = timestamp.max(taken);
        let pids = if pids.is_empty() {
            Value::Null
        } else {
            Value::Object(pids)
        };
        task_bodies.insert(
            task.task.clone(),
            json!({ "Pids": pids, "ResourceUsage": usage.body(), "Timestamp": taken }),
        );
    }
    json!({
        "ResourceUsage": total.body(),
        "Tasks": task_bodies,
        "Timestamp": timestamp,
    })
}

#[cfg(test)]
mod tests;
