//! Memory per idle follow stream: the agent's RSS before and after opening N following
//! `fs/stream` requests that get no new data (only heartbeats).
//!
//! Starts `caravan agent -dev` (the binary named by `CARAVAN_BIN`, with `CARAVAN_CORE` passed as
//! `-core` when set), opens one stream and measures RSS, opens the other N-1 on loopback (stopping
//! at the first refusal, which it reports), waits until every one has its response headers and its
//! first pull behind it, and prints the memory growth divided by the streams added. With the
//! streams open it also sends one `GET /v1/client/metadata` and prints its status: each open
//! stream holds an instance of the core.
//!
//! Memory is the proportional set size (PSS, `/proc/PID/smaps_rollup`), with the resident set
//! (RSS) printed beside it. They differ by the core's initial memory image: every instance maps
//! it copy-on-write from one shared file, and RSS counts its pages once per mapping although
//! they exist once (1,000 instances would "hold" 1,000 copies); PSS counts each page once. Run with `scripts/bench idle-streams`. Usage: `bench_streams [streams]`
//! (default 1,000).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use caravan::http_client::{self, Next, Streaming};

/// Time for the streams' first pulls to finish and the allocator to settle before measuring.
const SETTLE: Duration = Duration::from_secs(3);

fn main() {
    let streams: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let binary = std::env::var("CARAVAN_BIN").unwrap_or_else(|_| "target/release/caravan".into());
    let data_dir = tempfile::tempdir().unwrap();
    // Every stream comes from this one address: lift Nomad's 100 connections per client.
    let config = data_dir.path().join("limits.hcl");
    std::fs::write(&config, "limits {\n  http_max_conns_per_client = 0\n}\n").unwrap();
    let mut command = Command::new(binary);
    command
        .args(["agent", "-dev", "-http-port=0"])
        .arg(format!(
            "-data-dir={}",
            data_dir.path().join("data").display()
        ))
        .arg(format!("-config={}", config.display()))
        .arg(format!("-max-streams={}", streams + 16));
    if let Ok(core) = std::env::var("CARAVAN_CORE") {
        command.arg(format!("-core={core}"));
    }
    let agent = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("failed to start caravan");
    let mut agent = KillOnDrop(agent);
    let mut lines = BufReader::new(agent.0.stdout.take().unwrap()).lines();
    let (mut addr, mut alloc) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("==> dev mode: demo allocation ") {
            alloc = id.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("Serving HTTP on http://") {
            addr = rest.trim_end_matches('/').to_string();
            break;
        }
    }
    let request = format!("/v1/client/fs/stream/{alloc}?path=alloc/logs/demo.stderr.0&origin=end");
    // One stream first, so the baseline includes everything a first stream initialises once.
    let warm = open(&addr, &request).expect("the first stream");
    std::thread::sleep(SETTLE);
    let before = Memory::of(agent.0.id());
    let mut open_streams = Vec::new();
    let mut refused = None;
    while open_streams.len() + 1 < streams {
        match open(&addr, &request) {
            Ok(stream) => open_streams.push(stream),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    if let Some(status) = &refused {
        println!(
            "stream {} of {streams} was refused: {status}",
            open_streams.len() + 2
        );
    }
    let added = open_streams.len().max(1);
    std::thread::sleep(SETTLE);
    let after = Memory::of(agent.0.id());
    let per = |before: u64, after: u64| after.saturating_sub(before) as f64 / added as f64;
    let metadata = status_of(&addr, "/v1/client/metadata");
    println!(
        "idle follow streams: {} open, PSS {:.1} MiB -> {:.1} MiB, {:.1} KiB per stream \
         (RSS {:.1} -> {:.1} MiB, {:.1} KiB per stream); meanwhile GET /v1/client/metadata \
         answers {metadata}",
        added + 1,
        before.pss as f64 / 1024.0,
        after.pss as f64 / 1024.0,
        per(before.pss, after.pss),
        before.rss as f64 / 1024.0,
        after.rss as f64 / 1024.0,
        per(before.rss, after.rss),
    );
    drop(open_streams);
    drop(warm);
}

/// Open one following stream and wait for its response headers; `Err` is a refusal's status and
/// body.
fn open(addr: &str, target: &str) -> Result<Streaming, String> {
    let request = http_client::request("GET", target, &[], Vec::new()).unwrap();
    let mut stream = Streaming::open(addr, request).expect("the agent did not answer");
    if stream.status == 200 {
        return Ok(stream);
    }
    let body = match stream.next(Duration::from_secs(5)) {
        Next::Data(data) => String::from_utf8_lossy(&data).into_owned(),
        Next::Idle | Next::End => String::new(),
    };
    Err(format!("{} {body:?}", stream.status))
}

/// The status of a one-off GET.
fn status_of(addr: &str, target: &str) -> String {
    let request = http_client::request("GET", target, &[], Vec::new()).unwrap();
    let reply =
        http_client::block_on(http_client::fetch(addr, request)).expect("the agent did not answer");
    reply.status.to_string()
}

/// A process's memory in KiB.
#[derive(Clone, Copy)]
struct Memory {
    pss: u64,
    rss: u64,
}

impl Memory {
    fn of(pid: u32) -> Self {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/PID/smaps_rollup"))
        };
        Self {
            pss: field("Pss:"),
            rss: field("Rss:"),
        }
    }
}

/// The agent, killed however the benchmark ends (a failed assertion included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
