//! Log throughput through the collector: `cargo bench -p caravan --bench logmon`.
//!
//! Three measurements, each the median of five runs over 256 MiB of short lines:
//! - `rotator`: `Rotator::write` alone, 64 KiB chunks from memory (the rotation logic and
//!   the file writes);
//! - `pump`: bytes written by a thread into a pipe, read by `logmon::pump` (what a task's
//!   stdout costs the agent);
//! - `task`: a real task (`cat` of a file) through `tasks::run`, process start included.
//!
//! Files rotate at 10 MiB (Nomad's default) and three are kept, so the disk holds at most
//! 30 MiB; a tmpfs (`TMPDIR=/dev/shm`) takes the disk out of the measurement.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use caravan::allocs::logmon::{self, Rotator};
use caravan::allocs::tasks::{self, Launch, LogTarget, TaskControl};

const TOTAL: usize = 256 << 20;
const FILE_SIZE: u64 = 10 << 20;
const RUNS: usize = 5;

fn lines() -> Vec<u8> {
    let mut data = Vec::with_capacity(TOTAL);
    let mut n = 0u64;
    while data.len() < TOTAL {
        writeln!(data, "{n:012} the quick brown fox jumps over the lazy dog").unwrap();
        n += 1;
    }
    data.truncate(TOTAL);
    data
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn report(name: &str, runs: Vec<Duration>) {
    let d = median(runs);
    let mib = TOTAL as f64 / (1 << 20) as f64;
    println!(
        "{name:8} {:>8.0} MiB/s  ({d:.2?} for {mib} MiB)",
        mib / d.as_secs_f64()
    );
}

fn main() {
    let data = lines();
    let mut rotator_runs = Vec::new();
    let mut pump_runs = Vec::new();
    let mut task_runs = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let mut rotator = Rotator::open(
            dir.path(),
            &dir.path().join("idx"),
            "bench.stdout",
            3,
            FILE_SIZE,
        )
        .unwrap();
        let started = Instant::now();
        for chunk in data.chunks(logmon::PUMP_CHUNK) {
            rotator.write(chunk).unwrap();
        }
        rotator_runs.push(started.elapsed());

        let dir = tempfile::tempdir().unwrap();
        let mut rotator = Rotator::open(
            dir.path(),
            &dir.path().join("idx"),
            "bench.stdout",
            3,
            FILE_SIZE,
        )
        .unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let data = &data;
        let started = Instant::now();
        std::thread::scope(|scope| {
            // Dropping the writer at the end of the thread is the end of file.
            scope.spawn(move || writer.write_all(data).unwrap());
            logmon::pump(reader, &mut rotator, "bench");
        });
        pump_runs.push(started.elapsed());

        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::write(&source, data).unwrap();
        let launch = Launch {
            label: "bench".into(),
            command: "/bin/cat".into(),
            args: vec![source.to_string_lossy().into_owned()],
            env: BTreeMap::new(),
            dir: dir.path().to_path_buf(),
            logs: Some(LogTarget {
                dir: dir.path().to_path_buf(),
                index_dir: dir.path().join("idx"),
                task: "bench".into(),
                max_files: 3,
                max_file_size: FILE_SIZE,
            }),
        };
        let started = Instant::now();
        tasks::run(&TaskControl::new(), &launch, |_| {});
        task_runs.push(started.elapsed());
    }
    report("rotator", rotator_runs);
    report("pump", pump_runs);
    report("task", task_runs);
}
