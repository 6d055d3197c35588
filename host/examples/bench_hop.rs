//! The cost of one hop: the same requests straight to a client agent and through a server.
//!
//! Starts a server and a client (the binary named by `CARAVAN_BIN`) on loopback, places an
//! allocation with a large file, then measures keep-alive request throughput (with the daemon's own
//! HTTP client) and latency for
//! `fs/stat` and streamed `fs/stream?follow=false` throughput, direct and through the server.
//! Run with `scripts/bench-hop`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caravan::http_client::{self, Connection};
use http_body_util::BodyExt;
use tokio::runtime::Runtime;

const THREADS: usize = 4;
const REQUESTS_PER_THREAD: usize = 2_000;
const FILE_MB: usize = 256;

struct Agent {
    child: Child,
    addr: String,
    node_id: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, flags: &[String]) -> Agent {
    let binary = std::env::var("CARAVAN_BIN").unwrap_or_else(|_| "target/debug/caravan".into());
    let mut child = Command::new(binary)
        .args(["agent", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", dir.display()))
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("failed to start caravan");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut node_id) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("==> caravan agent: node ") {
            node_id = rest.split(',').next().unwrap().to_string();
        }
        if let Some(rest) = line.strip_prefix("Serving HTTP on http://") {
            addr = rest.trim_end_matches('/').to_string();
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Agent {
        child,
        addr,
        node_id,
    }
}

/// One keep-alive connection (the daemon's own client); the body is read and counted.
struct Conn(Connection);

impl Conn {
    async fn open(addr: &str) -> Self {
        Self(Connection::open(addr).await.unwrap())
    }

    async fn get(&mut self, target: &str) -> (u16, usize) {
        let request = http_client::request("GET", target, &[], Vec::new()).unwrap();
        let response = self.0.send(request).await.unwrap();
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                total += data.len();
            }
        }
        (status, total)
    }
}

fn load(rt: &Runtime, addr: &str, target: &str) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..THREADS)
        .map(|_| {
            let (addr, target) = (addr.to_string(), target.to_string());
            rt.spawn(async move {
                let mut conn = Conn::open(&addr).await;
                let mut latencies = Vec::with_capacity(REQUESTS_PER_THREAD);
                for _ in 0..REQUESTS_PER_THREAD {
                    let t = Instant::now();
                    assert_eq!(conn.get(&target).await.0, 200);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = tasks
        .into_iter()
        .flat_map(|task| rt.block_on(task).unwrap())
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let rps = latencies.len() as f64 / elapsed.as_secs_f64();
    (
        rps,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
    )
}

fn throughput(rt: &Runtime, addr: &str, target: &str) -> f64 {
    rt.block_on(async {
        let mut conn = Conn::open(addr).await;
        let started = Instant::now();
        let (status, bytes) = conn.get(target).await;
        assert_eq!(status, 200);
        bytes as f64 / started.elapsed().as_secs_f64() / (1 << 20) as f64
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let server = start(&temp.path().join("server"), &["-server".into()]);
    let client = start(
        &temp.path().join("client"),
        &[format!("-servers={}", server.addr)],
    );
    let alloc = "5fc98185-17ff-26bc-a802-0c74fa471c99";
    let spec = format!(
        r#"{{"ID":"{alloc}","JobID":"bench","TaskGroup":"bench","Tasks":[{{"Name":"t","Command":"/bin/true"}}]}}"#
    );
    std::fs::write(temp.path().join("client/specs/bench.json"), spec).unwrap();
    let data = temp
        .path()
        .join("client/alloc")
        .join(alloc)
        .join("alloc/data");
    let deadline = Instant::now() + Duration::from_secs(20);
    let stat_root = format!("/v1/client/fs/stat/{alloc}?path=/");
    while !data.exists()
        || rt.block_on(async { Conn::open(&server.addr).await.get(&stat_root).await.0 }) != 200
    {
        assert!(
            Instant::now() < deadline,
            "the server never learned the allocation"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut file = std::fs::File::create(data.join("big.bin")).unwrap();
    for _ in 0..FILE_MB {
        file.write_all(&block).unwrap();
    }
    drop(file);
    println!("node {} behind server {}", client.node_id, server.addr);
    let stat = format!("/v1/client/fs/stat/{alloc}?path=alloc/data/big.bin");
    let (d_rps, d_p50, d_p99) = load(&rt, &client.addr, &stat);
    let (s_rps, s_p50, s_p99) = load(&rt, &server.addr, &stat);
    println!("fs/stat, {THREADS} keep-alive connections x {REQUESTS_PER_THREAD} requests:");
    println!("  direct        {d_rps:>8.0} req/s  p50 {d_p50:?}  p99 {d_p99:?}");
    println!("  via server    {s_rps:>8.0} req/s  p50 {s_p50:?}  p99 {s_p99:?}");
    println!(
        "  ratio         {:.2}x the throughput direct",
        d_rps / s_rps
    );
    let stream = format!("/v1/client/fs/stream/{alloc}?path=alloc/data/big.bin&follow=false");
    let direct = throughput(&rt, &client.addr, &stream);
    let relayed = throughput(&rt, &server.addr, &stream);
    println!("fs/stream follow=false of {FILE_MB} MiB (framed):");
    println!("  direct        {direct:>8.0} MiB/s of frames");
    println!("  via server    {relayed:>8.0} MiB/s of frames");
    println!("  ratio         {:.2}x", direct / relayed);
}
