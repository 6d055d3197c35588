//! Follow latency: how long after an append does the frame reach a following client?
//!
//! Starts `caravan agent -dev` (the binary named by `CARAVAN_BIN`), follows a file with
//! `fs/stream`, appends one line at a time and times its arrival. Run with
//! `scripts/bench-follow`. Prints p50/p90/p99/max over the samples. With `BENCH_TLS=1` the
//! agent serves https (a throwaway CA and certificate) and the client follows over TLS.

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
