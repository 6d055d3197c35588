//! Delta semantics of the host sampler.
use super::*;

fn times(user: u64, system: u64, idle: u64) -> CpuTimes {
    CpuTimes {
        user,
        system,
        idle,
        ..CpuTimes::default()
    }
}

fn assert_percent(v: f64, what: &str) {
    assert!(v.is_finite() && (0.0..=100.0).contains(&v), "{what} = {v}");
}

/// Burns CPU on this thread for `d`, so some CPU shows user or system time.
fn busy_for(d: Duration) -> u64 {
    let end = Instant::now() + d;
    let mut x: u64 = 1;
    while Instant::now() < end {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

#[test]
fn handle_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<HostStats>();
}

#[test]
fn parses_proc_stat_per_cpu_lines() {
    let text = "cpu  10 20 30 40 50 60 70 80 90 100\n\
                cpu0 1 2 3 4 5 6 7 8 9 10\n\
                cpu12 5 0 5 90\n\
                intr 1 2 3\n\
                cpufoo 1 2 3\n";
    let parsed = parse_proc_stat(text);
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].0, "cpu0");
    assert_eq!(
        parsed[0].1,
        CpuTimes {
            user: 1,
            nice: 2,
            system: 3,
            idle: 4,
            iowait: 5,
            irq: 6,
            softirq: 7,
            steal: 8,
            guest: 9,
            guest_nice: 10,
        }
    );
    assert_eq!(parsed[1].0, "cpu12");
    assert_eq!(parsed[1].1, times(5, 5, 90));
}

#[test]
fn percentages_follow_nomad() {
    let prev = times(100, 50, 850);
    let cur = CpuTimes {
        user: 130,
        system: 60,
        idle: 900,
        nice: 5,
        iowait: 5,
        ..CpuTimes::default()
    };
    // Δtotal = 30 + 10 + 50 + 5 + 5 = 100.
    let (idle, user, system, total) = cpu_percentages(&prev, &cur);
    assert_eq!((idle, user, system, total), (50.0, 30.0, 10.0, 50.0));
}

#[test]
fn guest_time_counts_as_busy_but_not_in_total() {
    let cur = CpuTimes {
        user: 80,
        idle: 20,
        guest: 40,
        ..CpuTimes::default()
    };
    let (idle, user, _, total) = cpu_percentages(&CpuTimes::default(), &cur);
    assert_eq!((idle, user), (20.0, 80.0));
    // Busy is 80 + 40 over a total of 100: the double count is clamped.
    assert_eq!(total, 100.0);
}

#[test]
fn degenerate_intervals_read_as_idle() {
    let same = times(10, 10, 10);
    assert_eq!(cpu_percentages(&same, &same), (100.0, 0.0, 0.0, 0.0));
    // Every counter went backwards: the ratios alone would look valid.
    let earlier = times(5, 5, 5);
    assert_eq!(cpu_percentages(&same, &earlier), (100.0, 0.0, 0.0, 0.0));
    // One counter went backwards while the total grew.
    let reset = times(0, 10, 100);
    assert_eq!(cpu_percentages(&same, &reset), (100.0, 0.0, 0.0, 0.0));
}

#[test]
fn busy_loop_shows_in_second_sample() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut sampler = Sampler::new(tmp.path().to_owned());
    let first = sampler.sample();
    assert!(!first.cpus.is_empty(), "no CPUs read from /proc/stat");
    // Burn CPU until a sample shows it: how much wall time that takes depends on the
    // machine's load, the outcome does not.
    let second = crate::util::testing::wait_for("a sample with busy time", || {
        busy_for(Duration::from_millis(50));
        let sample = sampler.sample();
        sample
            .cpus
            .iter()
            .any(|c| c.total_percent > 0.0)
            .then_some(sample)
    });

    // Busy time, not `user`: under `nice` the loop's time is counted as nice.
    assert!(
        second.cpus.iter().any(|c| c.total_percent > 0.0),
        "no CPU saw busy time: {:?}",
        second.cpus
    );
    for sample in [&first, &second] {
        for cpu in &sample.cpus {
            assert!(cpu.name.starts_with("cpu"));
            assert_percent(cpu.user, "user");
            assert_percent(cpu.system, "system");
            assert_percent(cpu.idle, "idle");
            assert_percent(cpu.total_percent, "total_percent");
            assert!(cpu.total_ticks.is_finite() && cpu.total_ticks >= 0.0);
        }
        assert!(sample.cpu_ticks_consumed.is_finite() && sample.cpu_ticks_consumed >= 0.0);
        assert!(sample.memory.total > 0);
        assert!(sample.memory.available <= sample.memory.total);
        for disk in sample.disks.iter().chain([&sample.alloc_dir]) {
            assert!(disk.size > 0);
            assert!(disk.used <= disk.size);
            assert_percent(disk.used_percent, "used_percent");
            assert_percent(disk.inodes_used_percent, "inodes_used_percent");
        }
    }
    assert!(second.uptime > 0);
    assert!(second.taken_at >= first.taken_at);
    Ok(())
}

#[test]
fn alloc_dir_of_tempdir_has_size() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let sample = alloc_dir_sample(tmp.path());
    assert!(sample.size > 0);
    assert!(sample.available <= sample.size);
    assert_eq!(
        (sample.device.as_str(), sample.mountpoint.as_str()),
        ("", "")
    );
    Ok(())
}

#[test]
fn missing_alloc_dir_is_all_zero() {
    let sample = alloc_dir_sample(Path::new("/nonexistent/caravan/alloc"));
    assert_eq!(sample, DiskSample::default());
}

#[test]
fn background_sampler_publishes_and_exits_on_drop() -> anyhow::Result<()> {
    use crate::util::testing::{wait_for, wait_until};
    let tmp = tempfile::tempdir()?;
    let stats = HostStats::start(tmp.path().to_owned(), Duration::from_millis(100));
    let clone = stats.clone();

    // The first sample is taken at once.
    let first = wait_for("a first sample", || clone.latest());
    assert!(first.alloc_dir.size > 0);

    // A later sample replaces it.
    wait_until("a second sample", || {
        clone.latest().is_some_and(|s| s.taken_at > first.taken_at)
    });

    let weak = stats.shared_weak();
    drop(stats);
    // One handle remains, so the thread keeps going.
    assert!(weak.upgrade().is_some());
    drop(clone);
    // The thread holds the shared state until it returns.
    wait_until("the sampler thread to exit", || weak.upgrade().is_none());
    Ok(())
}

#[test]
fn dropping_the_last_handle_wakes_the_sampler_mid_interval() {
    use crate::util::testing::{wait_for, wait_until};
    let tmp = tempfile::tempdir().unwrap();
    // An interval far beyond the test's patience: the thread exits within it only if the
    // drop wakes it, and the drop returns only if it does not wait for the thread.
    let stats = HostStats::start(tmp.path().to_owned(), Duration::from_secs(24 * 3600));
    wait_for("a first sample", || stats.latest());
    let weak = stats.shared_weak();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(stats);
        let _ = tx.send(());
    });
    wait_for("the drop to return", || rx.try_recv().ok());
    wait_until("the sampler thread to exit", || weak.upgrade().is_none());
}

#[test]
fn memory_is_read_as_gopsutil_reads_it() {
    let meminfo = "MemTotal:       16000000 kB\nMemFree:         2000000 kB\n\
                   MemAvailable:    9000000 kB\nBuffers:          500000 kB\n\
                   Cached:          6000000 kB\nSwapCached:            0 kB\n\
                   SReclaimable:     400000 kB\nHugePages_Total:       0\n";
    let memory = MemorySample::from_meminfo(meminfo);
    let kib = |n: u64| n * 1024;
    assert_eq!(memory.total, kib(16_000_000));
    assert_eq!(memory.free, kib(2_000_000));
    assert_eq!(memory.available, kib(9_000_000));
    // Total - Free - Buffers - (Cached + SReclaimable).
    assert_eq!(
        memory.used,
        kib(16_000_000 - 2_000_000 - 500_000 - 6_400_000)
    );
    // A kernel without MemAvailable: free plus cache.
    let old = MemorySample::from_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nCached: 20 kB\n");
    assert_eq!(old.available, kib(30));
    assert_eq!(MemorySample::from_meminfo(""), MemorySample::default());
}
