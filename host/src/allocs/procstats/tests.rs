use super::*;

fn stat(pid: u32, ppid: u32, pgrp: u32) -> ProcStat {
    ProcStat {
        pid,
        ppid,
        pgrp,
        zombie: false,
        utime: 0,
        stime: 0,
        start_ticks: 0,
    }
}

#[test]
fn parses_stat_with_awkward_command_names() {
    let text = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    17 5 0 0 20 0 1 0 123456 1000000 200 18446744073709551615";
    let parsed = parse_stat(4242, text).unwrap();
    assert_eq!(
        parsed,
        ProcStat {
            pid: 4242,
            ppid: 1,
            pgrp: 4242,
            zombie: false,
            utime: 17,
            stime: 5,
            start_ticks: 123456,
        }
    );
    assert_eq!(parse_stat(1, "1 (x) S 0"), None);
    assert_eq!(parse_stat(1, "garbage"), None);
}

#[test]
fn reads_this_process() {
    let me = read_stat(std::process::id()).unwrap();
    assert_eq!(me.pid, std::process::id());
    assert!(all_processes().iter().any(|p| p.pid == me.pid));
    let (rss, _) = memory(me.pid);
    assert!(rss > 0);
}

#[test]
fn tree_is_the_group_and_the_leaders_descendants() {
    let procs = [
        stat(1, 0, 1),
        stat(10, 1, 10),  // leader
        stat(11, 10, 10), // child in the group
        stat(12, 11, 12), // grandchild that made its own group
        stat(13, 1, 10),  // reparented to init, still in the group
        stat(14, 12, 12), // child of the escaped grandchild
        stat(20, 1, 20),  // unrelated
    ];
    let pids: Vec<u32> = task_tree(10, &procs).iter().map(|p| p.pid).collect();
    assert_eq!(pids, [10, 11, 12, 13, 14]);
}

#[test]
fn cpu_is_a_rate_and_the_first_sample_is_zero() {
    let mut sampler = Sampler {
        ticks_per_second: 100.0,
        mhz_per_core: 2000.0,
        previous: HashMap::new(),
    };
    let then = Instant::now();
    let mut p = stat(std::process::id(), 1, 1);
    let first = sampler.process(&p, then);
    assert_eq!(first.cpu_percent, 0.0);
    sampler
        .previous
        .insert((p.pid, p.start_ticks), (p.utime, p.stime, then));
    // 1.5 s of user and 0.5 s of system time over 2 s of wall time.
    p.utime += 150;
    p.stime += 50;
    let later = sampler.process(&p, then + Duration::from_secs(2));
    assert_eq!(later.user_mode, 75.0);
    assert_eq!(later.system_mode, 25.0);
    assert_eq!(later.cpu_percent, 100.0);
    assert_eq!(later.total_ticks, 2000.0);
}

#[test]
fn samples_only_tracked_tasks_in_the_background() {
    use crate::util::testing::wait_until;
    let stats = TaskStats::start(Duration::from_millis(20));
    let me = std::process::id();
    stats.track("a", "web", me);
    wait_until("a sample", || !stats.allocation("a").is_empty());
    let sample = &stats.allocation("a")[0];
    assert_eq!(sample.task, "web");
    assert!(sample.processes.iter().any(|p| p.pid == me && p.rss > 0));
    stats.untrack("a", "web");
    assert!(stats.allocation("a").is_empty());
    // A task tracked after the untrack shows once a round started after the untrack has
    // published; by then an untracked task that was going to come back would have.
    stats.track("b", "db", me);
    wait_until("a round after the untrack", || {
        !stats.allocation("b").is_empty()
    });
    assert!(
        stats.allocation("a").is_empty(),
        "an untracked task came back"
    );
}
