//! Host resource statistics, sampled in the background with the semantics of Nomad's
//! `client/hoststats`.
//!
//! Nomad's `/v1/client/stats` does not measure anything when it is asked: a collector samples
//! the host once a second and the endpoint returns the latest sample. CPU percentages are only
//! meaningful as the difference between two readings of the kernel's counters, so a sampler
//! that keeps the previous reading is also what makes the numbers right. [`HostStats`] runs that
//! sampler on its own thread, and handlers read the latest complete sample without blocking on
//! `/proc` or on a slow filesystem.
//!
//! Per-CPU counters are read from `/proc/stat` here rather than through `sysinfo`, because
//! Nomad's formulas need the individual jiffy fields (user, system, idle, guest...), which
//! `sysinfo` only exposes folded into one usage percentage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::util::disk::DiskUsage;
use crate::util::lock;
use std::time::{Duration, Instant, SystemTime};

use sysinfo::{CpuRefreshKind, DiskRefreshKind, Disks, System};

/// Below this the sampler would spin; a jiffy is 10 ms on common kernels anyway.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Usage of one logical CPU over the last sampling interval, in percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuSample {
    /// The kernel's name for the CPU, e.g. `cpu0`.
    pub name: String,
    /// Percent of time spent in user mode.
    pub user: f64,
    /// Percent of time spent in kernel mode.
    pub system: f64,
    /// Percent of time spent idle.
    pub idle: f64,
    /// Percent of time spent busy, at most 100.
    pub total_percent: f64,
    /// Busy time expressed in MHz, Nomad's unit of CPU capacity.
    pub total_ticks: f64,
}

/// Host memory, in bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemorySample {
    /// Installed memory.
    pub total: u64,
    /// Memory available to new work without swapping.
    pub available: u64,
    /// Memory in use: neither free, nor buffers, nor page cache.
    pub used: u64,
    /// Memory not used for anything (caches are not free).
    pub free: u64,
}

/// Usage of one mounted filesystem, in bytes and percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiskSample {
    /// The mounted device, e.g. `/dev/sda1`; empty for the alloc dir, as in Nomad.
    pub device: String,
    /// Where it is mounted; empty for the alloc dir, as in Nomad.
    pub mountpoint: String,
    /// Total size.
    pub size: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes available to unprivileged users.
    pub available: u64,
    /// `used / (used + available)` in percent, as gopsutil and `df`.
    pub used_percent: f64,
    /// Used inodes as a percent of all inodes.
    pub inodes_used_percent: f64,
}

/// One complete sample of the host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSample {
    /// Memory usage.
    pub memory: MemorySample,
    /// Per-CPU usage, in the kernel's order.
    pub cpus: Vec<CpuSample>,
    /// Every mounted real filesystem.
    pub disks: Vec<DiskSample>,
    /// The filesystem holding the allocation directory.
    pub alloc_dir: DiskSample,
    /// Seconds since boot.
    pub uptime: u64,
    /// Sum of every CPU's `total_ticks`.
    pub cpu_ticks_consumed: f64,
    /// When the sample was taken.
    pub taken_at: SystemTime,
}

/// Handle on the background host sampler; clones share it, and the last drop stops it.
#[derive(Clone, Debug)]
pub struct HostStats {
    owner: Arc<Owner>,
}

impl HostStats {
    /// Starts a thread that samples the host every `interval` until the last clone is dropped.
    pub fn start(alloc_dir: PathBuf, interval: Duration) -> Self {
        let shared = Arc::new(SamplerState {
            latest: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let interval = interval.max(MIN_INTERVAL);
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("host-stats".to_owned())
            .spawn(move || run(thread_shared, alloc_dir, interval));
        if let Err(err) = spawned {
            // Stats are not worth failing the agent for: the endpoint keeps answering "no
            // sample yet", and the cause is on stderr.
            eprintln!("host stats: failed to start the sampler thread: {err}");
        }
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// Returns the latest complete sample, or `None` before the first one.
    pub fn latest(&self) -> Option<HostSample> {
        lock(&self.owner.shared.latest).clone()
    }

    /// Lets a test watch the sampler thread let go of its state, which it does on exit.
    #[cfg(test)]
    fn shared_weak(&self) -> std::sync::Weak<SamplerState> {
        Arc::downgrade(&self.owner.shared)
    }
}

/// State shared between the handles and the sampler thread.
#[derive(Debug)]
struct SamplerState {
    latest: Mutex<Option<HostSample>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Owned only by the handles (never by the thread), so its drop marks the last handle gone.
#[derive(Debug)]
struct Owner {
    shared: Arc<SamplerState>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Not joined: a sample can block on a hung network mount, and dropping the last
        // handle must not hang with it. The thread exits at its next check of the flag.
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
    }
}

/// The sampler thread: sample, publish, sleep, until asked to stop.
fn run(shared: Arc<SamplerState>, alloc_dir: PathBuf, interval: Duration) {
    let mut sampler = Sampler::new(alloc_dir);
    loop {
        let sample = sampler.sample();
        *lock(&shared.latest) = Some(sample);
        if wait_for_stop(&shared, interval) {
            return;
        }
    }
}

/// Sleeps for `interval` or until stopped; returns whether the thread should exit.
fn wait_for_stop(shared: &SamplerState, interval: Duration) -> bool {
    // Waiting on the condvar (rather than sleeping) lets a drop wake the thread at once.
    let deadline = Instant::now().checked_add(interval);
    let mut stop = lock(&shared.stop);
    loop {
        if *stop {
            return true;
        }
        let now = Instant::now();
        stop = match deadline {
            Some(deadline) if now >= deadline => return false,
            Some(deadline) => {
                shared
                    .wake
                    .wait_timeout(stop, deadline.saturating_duration_since(now))
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
            // An interval too long to represent: sleep until stopped.
            None => shared
                .wake
                .wait(stop)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
    }
}

/// Cumulative jiffies of one CPU, as the fields of a `/proc/stat` `cpuN` line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CpuTimes {
    user: u64,
    nice: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    irq: u64,
    softirq: u64,
    steal: u64,
    guest: u64,
    guest_nice: u64,
}

impl CpuTimes {
    /// All time accounted to the CPU. Guest time is left out because the kernel already counts
    /// it inside user and nice.
    fn total(&self) -> f64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .map(|&v| v as f64)
        .sum()
    }

    /// Busy time as Nomad counts it, guest time included (hence the clamp on its percent).
    fn busy(&self) -> f64 {
        [
            self.user,
            self.system,
            self.nice,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
            self.guest,
            self.guest_nice,
        ]
        .iter()
        .map(|&v| v as f64)
        .sum()
    }
}

/// Parses the per-CPU lines (`cpu0`, `cpu1`...) of `/proc/stat`, skipping the aggregate `cpu`.
fn parse_proc_stat(text: &str) -> Vec<(String, CpuTimes)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(name) = fields.next() else { continue };
        let is_per_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_per_cpu {
            continue;
        }
        // Older kernels have fewer columns; the missing ones are zero, as they were then.
        let mut next = || {
            fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let times = CpuTimes {
            user: next(),
            nice: next(),
            system: next(),
            idle: next(),
            iowait: next(),
            irq: next(),
            softirq: next(),
            steal: next(),
            guest: next(),
            guest_nice: next(),
        };
        out.push((name.to_owned(), times));
    }
    out
}

/// Nomad's per-CPU percentages `(idle, user, system, total)` between two readings.
fn cpu_percentages(prev: &CpuTimes, cur: &CpuTimes) -> (f64, f64, f64, f64) {
    let delta = |now: u64, before: u64| now as f64 - before as f64;
    let delta_total = cur.total() - prev.total();
    let idle = delta(cur.idle, prev.idle) / delta_total * 100.0;
    let user = delta(cur.user, prev.user) / delta_total * 100.0;
    let system = delta(cur.system, prev.system) / delta_total * 100.0;
    let total = ((cur.busy() - prev.busy()) / delta_total * 100.0).min(100.0);
    // No elapsed jiffies divides by zero, and a counter reset (a CPU going offline and back)
    // goes negative; report such an interval as idle, as Nomad does. A negative total is
    // checked on its own because it would turn negative deltas into plausible percents.
    let valid = |v: f64| v.is_finite() && v >= 0.0;
    if delta_total > 0.0 && [idle, user, system, total].into_iter().all(valid) {
        (idle, user, system, total)
    } else {
        (100.0, 0.0, 0.0, 0.0)
    }
}

impl MemorySample {
    /// gopsutil's `VirtualMemory` (Nomad's source) from `/proc/meminfo`: `Used` is what is
    /// neither free, nor buffers, nor page cache (reclaimable slab counted as cache), so a
    /// full page cache does not read as used; `Available` is the kernel's `MemAvailable`
    /// (free plus cache on kernels without it).
    fn from_meminfo(text: &str) -> Self {
        let fields: HashMap<&str, u64> = text
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                let kib = value
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()?;
                Some((key.trim(), kib.saturating_mul(1024)))
            })
            .collect();
        let field = |key: &str| fields.get(key).copied().unwrap_or(0);
        let (total, free) = (field("MemTotal"), field("MemFree"));
        let cached = field("Cached").saturating_add(field("SReclaimable"));
        Self {
            total,
            available: fields
                .get("MemAvailable")
                .copied()
                .unwrap_or(cached.saturating_add(free)),
            used: total
                .saturating_sub(free)
                .saturating_sub(field("Buffers"))
                .saturating_sub(cached),
            free,
        }
    }
}

impl DiskSample {
    /// Nomad's figures for the filesystem holding `path` (see [`DiskUsage`]), or `None`.
    fn of(path: &Path, device: String, mountpoint: String) -> Option<Self> {
        let usage = DiskUsage::of(path)?;
        Some(Self {
            device,
            mountpoint,
            size: usage.size,
            used: usage.used,
            available: usage.available,
            used_percent: usage.used_percent,
            inodes_used_percent: usage.inodes_used_percent,
        })
    }
}

/// Usage of the filesystem holding the alloc dir (`Device` and `Mountpoint` empty, as in
/// Nomad), all zero if it cannot be read.
fn alloc_dir_sample(path: &Path) -> DiskSample {
    DiskSample::of(path, String::new(), String::new()).unwrap_or_default()
}

/// Everything that must persist between samples: the previous CPU reading and the `sysinfo`
/// handles, which are costly to rebuild.
struct Sampler {
    alloc_dir: PathBuf,
    /// `None` if `sysinfo` could not be set up; retried on the next sample.
    system: Option<System>,
    disks: Option<Disks>,
    /// The previous reading per CPU name; empty at first, so the first sample spans since boot.
    prev_cpu: HashMap<String, CpuTimes>,
    /// Average CPU frequency in MHz, read once like Nomad's fixed CPU capacity; 0 until known.
    avg_mhz: f64,
}

impl Sampler {
    fn new(alloc_dir: PathBuf) -> Self {
        Self {
            alloc_dir,
            system: None,
            disks: None,
            prev_cpu: HashMap::new(),
            avg_mhz: 0.0,
        }
    }

    fn sample(&mut self) -> HostSample {
        let memory = self.memory();
        let cpus = self.cpus();
        let cpu_ticks_consumed = cpus.iter().map(|c| c.total_ticks).sum();
        HostSample {
            memory,
            cpus,
            disks: self.disks(),
            alloc_dir: alloc_dir_sample(&self.alloc_dir),
            uptime: System::uptime().unwrap_or(0),
            cpu_ticks_consumed,
            taken_at: SystemTime::now(),
        }
    }

    fn system(&mut self) -> Option<&mut System> {
        if self.system.is_none() {
            self.system = System::new().ok();
        }
        self.system.as_mut()
    }

    fn memory(&mut self) -> MemorySample {
        std::fs::read_to_string("/proc/meminfo")
            .map(|text| MemorySample::from_meminfo(&text))
            .unwrap_or_default()
    }

    /// Average MHz over all CPUs, read on first use and kept once non-zero.
    fn avg_mhz(&mut self) -> f64 {
        if self.avg_mhz <= 0.0
            && let Some(system) = self.system()
        {
            system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_frequency());
            let cpus = system.cpus();
            let total: f64 = cpus.iter().map(|c| c.frequency() as f64).sum();
            let avg = total / cpus.len() as f64;
            self.avg_mhz = if avg.is_finite() { avg } else { 0.0 };
        }
        self.avg_mhz
    }

    fn cpus(&mut self) -> Vec<CpuSample> {
        let Ok(text) = std::fs::read_to_string("/proc/stat") else {
            return Vec::new();
        };
        let readings = parse_proc_stat(&text);
        let avg_mhz = self.avg_mhz();
        let mut samples = Vec::with_capacity(readings.len());
        let mut prev = HashMap::with_capacity(readings.len());
        for (name, cur) in readings {
            let before = self.prev_cpu.get(&name).copied().unwrap_or_default();
            let (idle, user, system, total_percent) = cpu_percentages(&before, &cur);
            samples.push(CpuSample {
                name: name.clone(),
                user,
                system,
                idle,
                total_percent,
                total_ticks: total_percent / 100.0 * avg_mhz,
            });
            prev.insert(name, cur);
        }
        // Replacing the map forgets CPUs that went offline, so one coming back starts afresh.
        self.prev_cpu = prev;
        samples
    }

    fn disks(&mut self) -> Vec<DiskSample> {
        let refresh = DiskRefreshKind::nothing().with_storage();
        match self.disks.as_mut() {
            // Re-reads the mount table too, dropping unmounted filesystems.
            Some(disks) => disks.refresh_specifics(true, refresh),
            None => self.disks = Disks::new_with_refreshed_list_specifics(refresh).ok(),
        }
        let Some(disks) = self.disks.as_ref() else {
            return Vec::new();
        };
        // The mounts come from `sysinfo`, their figures from `statvfs` with Nomad's arithmetic
        // (`sysinfo` has no free-block count, so it would count root's reserve as used).
        disks
            .iter()
            .filter(|d| d.total_space() > 0)
            .filter_map(|d| {
                DiskSample::of(
                    d.mount_point(),
                    d.name().to_string_lossy().into_owned(),
                    d.mount_point().to_string_lossy().into_owned(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
