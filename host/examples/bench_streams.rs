//! Memory per idle follow stream: the agent's RSS before and after opening N following
//! `fs/stream` requests that get no new data (only heartbeats).
//!
//! Starts `caravan agent -dev` (the binary named by `CARAVAN_BIN`, with `CARAVAN_CORE` passed as
//! `-core` when set), opens one stream and measures RSS, opens the other N-1 on loopback (stopping
//! at the first refusal, which it reports), waits until every one has its response headers and its
//! first pull behind it, and prints the RSS growth divided by the streams added. With the streams
//! open it also sends one `GET /v1/client/metadata` and prints its status: each open stream holds
//! an instance of the core. Run with `scripts/bench idle-streams`. Usage: `bench_streams [streams]`
//! (default 1,000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let request = format!(
        "GET /v1/client/fs/stream/{alloc}?path=alloc/logs/demo.stderr.0&origin=end HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    // One stream first, so the baseline includes everything a first stream initialises once.
    let warm = open(&addr, &request).expect("the first stream");
    std::thread::sleep(SETTLE);
    let before = rss_kib(agent.0.id());
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
    let after = rss_kib(agent.0.id());
    let per_stream = (after.saturating_sub(before)) as f64 / added as f64;
    let metadata = status_of(
        &addr,
        "GET /v1/client/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    println!(
        "idle follow streams: {} open, RSS {:.1} MiB -> {:.1} MiB, {per_stream:.1} KiB per stream; \
         meanwhile GET /v1/client/metadata answers {metadata}",
        added + 1,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    drop(open_streams);
    drop(warm);
}

/// Open one following stream and wait for its response headers; `Err` is a refusal's status and
/// body.
fn open(addr: &str, request: &str) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "stream closed early");
        head.push(byte[0]);
    }
    if head.starts_with(b"HTTP/1.1 200") {
        return Ok(stream);
    }
    let status = String::from_utf8_lossy(&head[9..])
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut body = [0u8; 256];
    let n = stream.read(&mut body).unwrap_or(0);
    Err(format!(
        "{status} {:?}",
        String::from_utf8_lossy(&body[..n])
    ))
}

/// The status line of a one-off request.
fn status_of(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().trim_start_matches("HTTP/1.1 ").to_string()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The agent, killed however the benchmark ends (a failed assertion included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
