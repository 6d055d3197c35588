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
mod tests {
    use super::*;
    use crate::host::Timestamp;

    fn task(name: &str, pids: &[(u32, u64, f64)], at: i64) -> TaskUsage {
        TaskUsage {
            task: name.into(),
            processes: pids
                .iter()
                .map(|&(pid, rss, cpu)| ProcessUsage {
                    pid,
                    rss,
                    swap: 0,
                    cpu_percent: cpu,
                    user_mode: cpu,
                    system_mode: 0.0,
                    total_ticks: cpu * 10.0,
                })
                .collect(),
            taken_at: Timestamp {
                seconds: at,
                nanoseconds: 0,
            },
        }
    }

    #[test]
    fn allocation_usage_sums_tasks_and_processes() {
        let tasks = [
            task("web", &[(10, 100, 50.0), (11, 20, 25.0)], 5),
            task("db", &[(12, 1, 1.0)], 7),
        ];
        let body = allocation_body(&tasks, None);
        assert_eq!(body["ResourceUsage"]["MemoryStats"]["RSS"], 121);
        assert_eq!(body["ResourceUsage"]["CpuStats"]["Percent"], 76.0);
        assert_eq!(body["Timestamp"], 7_000_000_000i64);
        assert_eq!(body["Tasks"]["web"]["Pids"]["11"]["MemoryStats"]["RSS"], 20);
        assert_eq!(
            body["ResourceUsage"]["MemoryStats"]["Measured"],
            json!(["RSS", "Swap"])
        );
    }

    #[test]
    fn unknown_task_gives_zero_aggregate_and_empty_tasks() {
        let body = allocation_body(&[task("web", &[(10, 100, 50.0)], 5)], Some("nope"));
        assert_eq!(body["Tasks"], json!({}));
        assert_eq!(
            body["ResourceUsage"]["MemoryStats"]["Measured"],
            Value::Null
        );
        assert_eq!(body["Timestamp"], 0);
        assert_eq!(
            crate::wire::json::to_vec(&body["ResourceUsage"]["CpuStats"], false),
            br#"{"Measured":null,"Percent":0.0,"SystemMode":0.0,"ThrottledPeriods":0,"ThrottledTime":0,"TotalTicks":0.0,"UserMode":0.0}"#
        );
    }
}
