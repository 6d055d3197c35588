//! Follow latency: how long after an append does the frame reach a following client?
//!
//! Starts `caravan agent -dev` (the binary named by `CARAVAN_BIN`), follows a file with
//! `fs/stream`, appends one line at a time and times its arrival. Run with
//! `scripts/bench-follow`. Prints p50/p90/p99/max over the samples. With `BENCH_TLS=1` the
//! agent serves https (a throwaway CA and certificate) and the client follows over TLS. With
//! `BENCH_FOLLOWERS=N` (plain HTTP) N - 1 more clients follow the same file (on one tokio
//! thread, reading and discarding), and the agent's CPU time per appended line is printed too:
//! what one line costs as its followers grow (`scripts/bench scale`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caravan::http_client::{self, Next, Streaming, TlsClient, TlsOptions};

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let binary = std::env::var("CARAVAN_BIN").unwrap_or_else(|_| "target/debug/caravan".into());
    let data_dir = tempfile::tempdir().unwrap();
    let tls = std::env::var("BENCH_TLS").is_ok_and(|v| v == "1");
    let mut command = Command::new(binary);
    command.args(["agent", "-dev", "-http-port=0"]);
    let tls_dir = tempfile::tempdir().unwrap();
    let followers: usize = std::env::var("BENCH_FOLLOWERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    if followers > 1 {
        // Every follower comes from one address: lift Nomad's 100 connections per client.
        let config = data_dir.path().join("limits.hcl");
        std::fs::write(&config, "limits {\n  http_max_conns_per_client = 0\n}\n").unwrap();
        command.arg(format!("-config={}", config.display()));
        command.arg(format!("-max-streams={}", followers + 16));
    }
    let client_tls = tls.then(|| {
        let config = https_config(tls_dir.path());
        command.arg(format!("-config={}", config.display()));
        TlsClient::new(&TlsOptions {
            ca_cert: Some(&tls_dir.path().join("ca.pem")),
            ..TlsOptions::default()
        })
        .unwrap()
    });
    let agent = command
        .arg(format!("-data-dir={}", data_dir.path().display()))
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
        if let Some(rest) = line
            .strip_prefix("Serving HTTP on http://")
            .or_else(|| line.strip_prefix("Serving HTTPS on https://"))
        {
            addr = rest.trim_end_matches('/').to_string();
            break;
        }
    }
    let file = data_dir
        .path()
        .join("alloc")
        .join(&alloc)
        .join("alloc/data/bench.log");
    std::fs::write(&file, b"").unwrap();
    let target = format!("/v1/client/fs/stream/{alloc}?path=alloc/data/bench.log");
    let request = http_client::request("GET", &target, &[], Vec::new()).unwrap();
    let mut stream = Streaming::open_with(&addr, client_tls.as_ref(), request).unwrap();
    assert_eq!(stream.status, 200);
    let _others = (followers > 1).then(|| other_followers(&addr, &target, followers - 1));
    let cpu_before = cpu_ticks(agent.0.id());
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    let mut frames = Frames::default();
    let mut latencies = Vec::with_capacity(samples);
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..samples {
        let marker = format!("line {i:08}\n");
        let sent = Instant::now();
        writer.write_all(marker.as_bytes()).unwrap();
        loop {
            let Next::Data(data) = stream.next(Duration::from_secs(30)) else {
                panic!("the stream ended or stalled");
            };
            frames.push(&data);
            if find(&frames.data, marker.as_bytes()) {
                latencies.push(sent.elapsed());
                frames.data.clear();
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let cpu_ticks_used = cpu_ticks(agent.0.id()) - cpu_before;
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "follow latency{} over {samples} appends: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        if tls { " (TLS)" } else { "" },
        at(0.50),
        at(0.90),
        at(0.99),
        latencies.last().unwrap()
    );
    if followers > 1 {
        // Clock ticks are 10 ms (USER_HZ 100); the loop's sleeps are idle time, not counted.
        let ms = cpu_ticks_used as f64 * 10.0 / samples as f64;
        println!(
            "with {followers} followers of the file: agent CPU {ms:.3} ms per appended line ({:.1} µs per follower)",
            ms * 1000.0 / followers as f64
        );
    }
}

/// The agent's user + system CPU time so far, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) start after its `)`.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `count` more clients following `target`, each reading and discarding on one tokio thread;
/// returns once every one has its answer's head. They end with the process.
fn other_followers(addr: &str, target: &str, count: usize) -> std::thread::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (addr, target) = (addr.to_string(), target.to_string());
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            for _ in 0..count {
                let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let head = format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n");
                socket.write_all(head.as_bytes()).await.unwrap();
                let ready = ready_tx.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut first = true;
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if std::mem::take(&mut first) {
                            let head = String::from_utf8_lossy(&buf[..n.min(200)]).into_owned();
                            assert!(
                                head.starts_with("HTTP/1.1 200"),
                                "a follower was refused: {head}"
                            );
                            let _ = ready.send(());
                        }
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        });
    });
    for _ in 0..count {
        ready_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("every follower answered");
    }
    thread
}

/// A CA and a certificate for 127.0.0.1 under `dir` (`ca.pem`, `cert.pem`, `key.pem`), and
/// the agent config serving https with them.
fn https_config(dir: &std::path::Path) -> std::path::PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let config = dir.join("tls.hcl");
    let d = dir.display();
    std::fs::write(
        &config,
        format!(
            "tls {{\n  http = true\n  ca_file = \"{d}/ca.pem\"\n  cert_file = \"{d}/cert.pem\"\n  key_file = \"{d}/key.pem\"\n}}\n"
        ),
    )
    .unwrap();
    config
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The file data carried by the frames received so far. A line may arrive split over two
/// frames (a pull can read a write half done), so markers are looked for in the decoded data,
/// not in the encoded frames.
#[derive(Default)]
struct Frames {
    pending: Vec<u8>,
    data: Vec<u8>,
}

impl Frames {
    fn push(&mut self, bytes: &[u8]) {
        use base64::Engine as _;
        const KEY: &[u8] = b"\"Data\":\"";
        self.pending.extend_from_slice(bytes);
        while let Some(start) = self.pending.windows(KEY.len()).position(|w| w == KEY) {
            let from = start + KEY.len();
            let Some(len) = self.pending[from..].iter().position(|b| *b == b'"') else {
                return;
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&self.pending[from..from + len])
                .expect("frame data is base64");
            self.data.extend_from_slice(&decoded);
            self.pending.drain(..from + len);
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
