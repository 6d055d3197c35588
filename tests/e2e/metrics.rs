//! `/v1/metrics` end to end: counts in Nomad's JSON shape after known requests, the
//! Prometheus text form, the ACL rule (none, as Nomad), and a real Prometheus server
//! (Debian's `prometheus`, installed by `scripts/ensure-packages`) scraping the agent.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use caravan::http_client;
use serde_json::Value;

use crate::support::{Agent, Reply, wait_for};

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn metrics_json(agent: &Agent) -> Value {
    let reply = agent.get("/v1/metrics");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

/// The entry of `section` (`Counters`, `Samples`, `Gauges`) named `name` whose labels
/// include every pair of `labels`.
fn entry<'a>(
    body: &'a Value,
    section: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a Value> {
    body[section].as_array()?.iter().find(|entry| {
        entry["Name"] == name
            && labels
                .iter()
                .all(|(label, value)| entry["Labels"][*label] == *value)
    })
}

fn count(body: &Value, section: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    entry(body, section, name, labels).map_or(0, |e| e["Count"].as_u64().unwrap())
}

#[test]
fn json_counts_requests_by_route_pattern_and_status() {
    let agent = Agent::start();
    const N: u64 = 7;
    for _ in 0..N {
        assert_eq!(agent.get("/v1/client/metadata").status, 200);
    }
    let ls = format!("/v1/client/fs/ls/{}?path=/", agent.demo_alloc);
    for _ in 0..3 {
        assert_eq!(agent.get(&ls).status, 200);
    }
    assert_eq!(agent.get("/v1/no/such/route").status, 404);

    let body = metrics_json(&agent);
    for key in ["Timestamp", "Gauges", "Counters", "Samples"] {
        assert!(body.get(key).is_some(), "{key} in {body}");
    }
    let requests = "nomad.caravan.http.requests";
    let metadata = [
        ("method", "GET"),
        ("route", "/v1/client/metadata"),
        ("status", "200"),
    ];
    let counter = entry(&body, "Counters", requests, &metadata).expect("metadata requests");
    assert_eq!(counter["Count"], N);
    assert_eq!(counter["Sum"], N as f64);
    for field in ["Rate", "Min", "Max", "Mean", "Stddev"] {
        assert!(counter.get(field).is_some(), "{field} in {counter}");
    }
    let ls_route = [("route", "/v1/client/fs/ls/:alloc_id"), ("status", "200")];
    assert_eq!(count(&body, "Counters", requests, &ls_route), 3);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(count(&body, "Counters", requests, &unmatched), 1);
    // Every request so far went to the core once; this one is the host's own.
    assert_eq!(
        count(
            &body,
            "Counters",
            "nomad.caravan.core.calls",
            &[("call", "handle")]
        ),
        N + 4
    );
    let timing = [("method", "GET"), ("route", "/v1/client/metadata")];
    let sample = entry(
        &body,
        "Samples",
        "nomad.caravan.http.request_duration",
        &timing,
    )
    .expect("metadata timings");
    assert_eq!(sample["Count"], N);
    // Routes are patterns: no request label carries an id or a raw path.
    for counter in body["Counters"].as_array().unwrap() {
        if let Some(route) = counter["Labels"]["route"].as_str() {
            assert!(!route.contains(&agent.demo_alloc), "{counter}");
        }
    }

    // The metrics request itself is counted once it is answered.
    let body = metrics_json(&agent);
    let own = [("route", "/v1/metrics"), ("status", "200")];
    assert_eq!(count(&body, "Counters", requests, &own), 1);
}

#[test]
fn json_reports_allocations_host_stats_log_and_served_bytes() {
    let agent = Agent::start();
    let node = [("node_id", agent.node_id.as_str())];
    // The samplers and the demo task run in the background: wait for their first values.
    let body = wait_for("host, allocation and log metrics", || {
        let body = metrics_json(&agent);
        let gauge = |name: &str, labels: &[(&str, &str)]| {
            entry(&body, "Gauges", name, labels).and_then(|g| g["Value"].as_f64())
        };
        let ready = gauge("nomad.client.host.memory.total", &node)? > 0.0
            && gauge("nomad.client.allocations.running", &node)? == 1.0
            && gauge(
                "nomad.client.allocs.memory.rss",
                &[("alloc_id", agent.demo_alloc.as_str())],
            )? > 0.0
            && count(
                &body,
                "Counters",
                "nomad.caravan.logmon.bytes_written",
                &[("log_type", "stdout")],
            ) > 0;
        ready.then_some(body)
    });
    assert!(
        entry(&body, "Gauges", "nomad.client.host.cpu.total", &node).is_some(),
        "{body}"
    );
    assert!(entry(&body, "Gauges", "nomad.client.uptime", &node).is_some());
    assert!(entry(&body, "Gauges", "nomad.caravan.http.open_streams", &[]).is_some());

    let cat = agent.get(&format!(
        "/v1/client/fs/cat/{}?path=alloc/logs/demo.stdout.0",
        agent.demo_alloc
    ));
    assert_eq!(cat.status, 200);
    let body = metrics_json(&agent);
    let served = entry(
        &body,
        "Counters",
        "nomad.caravan.http.served_bytes",
        &[("route", "/v1/client/fs/cat/:alloc_id")],
    )
    .expect("bytes served by cat");
    assert_eq!(served["Sum"], cat.body.len() as f64);
}

#[test]
fn prometheus_form_and_methods() {
    let agent = Agent::start();
    for _ in 0..4 {
        assert_eq!(agent.get("/v1/client/metadata").status, 200);
    }
    let reply = agent.get("/v1/metrics?format=prometheus");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        reply.headers
    );
    let text = reply.text();
    let line =
        r#"nomad_caravan_http_requests{method="GET",route="/v1/client/metadata",status="200"} 4"#;
    assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    assert!(text.contains("# TYPE nomad_caravan_http_request_duration histogram"));
    // Nomad: any other format is JSON; any other method 405.
    assert!(agent.get("/v1/metrics?format=xml").json()["Counters"].is_array());
    let post = agent.request("POST", "/v1/metrics", &[], b"");
    assert_eq!((post.status, post.text().as_str()), (405, "Invalid method"));
}

#[test]
fn metrics_need_no_token_and_count_acl_denials() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    assert_eq!(agent.get("/v1/client/metadata").status, 403);
    let bogus = [("X-Nomad-Token", "00000000-0000-0000-0000-000000000000")];
    assert_eq!(
        agent.request("GET", "/v1/client/stats", &bogus, b"").status,
        403
    );
    // As Nomad: no capability needed, and a bad token is not refused either.
    assert_eq!(agent.request("GET", "/v1/metrics", &bogus, b"").status, 200);
    let body = metrics_json(&agent);
    let denials = "nomad.caravan.acl.denials";
    assert_eq!(
        count(
            &body,
            "Counters",
            denials,
            &[("route", "/v1/client/metadata")]
        ),
        1
    );
    assert_eq!(
        count(&body, "Counters", denials, &[("route", "/v1/client/stats")]),
        1
    );
    assert_eq!(
        count(
            &body,
            "Counters",
            "nomad.caravan.http.requests",
            &[("route", "/v1/client/metadata"), ("status", "403")]
        ),
        1
    );
}

/// A Prometheus server on loopback, stopped (and its log shown if the test failed) on drop.
struct PrometheusServer {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<u8>>>,
}

impl PrometheusServer {
    /// Scrape `target`'s `/v1/metrics?format=prometheus` every second.
    fn start(dir: &Path, target: &str) -> Self {
        assert!(
            Path::new(PROMETHEUS).is_file(),
            "{PROMETHEUS} is missing: this test needs a real Prometheus server. Install \
             Debian's `prometheus` package (scripts/ensure-packages does it; scripts/test \
             runs that first)."
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: caravan\n    metrics_path: /v1/metrics\n    \
                 params:\n      format: [prometheus]\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {PROMETHEUS}: {err}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stderr, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self { child, addr, log }
    }

    /// The value of an instant PromQL query's first result, once Prometheus answers one.
    fn query(&self, promql: &str) -> Option<String> {
        let target = format!("/api/v1/query?query={}", percent_encode(promql));
        let reply = try_get(&self.addr, &target)?;
        if reply.status != 200 {
            return None;
        }
        let body: Value = serde_json::from_slice(&reply.body).ok()?;
        Some(body["data"]["result"][0]["value"][1].as_str()?.to_string())
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().unwrap();
            let _ = writeln!(
                std::io::stderr(),
                "--- prometheus log ---\n{}",
                String::from_utf8_lossy(&log)
            );
        }
    }
}

/// A GET that may fail (the server may not listen yet).
fn try_get(addr: &str, target: &str) -> Option<Reply> {
    let request = http_client::request("GET", target, &[], Vec::new()).ok()?;
    let reply = http_client::block_on(http_client::fetch(addr, request)).ok()?;
    Some(Reply {
        status: reply.status.as_u16(),
        headers: Vec::new(),
        body: reply.body.to_vec(),
    })
}

/// A query-string value, every byte but unreserved ones escaped.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_real_prometheus_server_scrapes_the_request_count() {
    let agent = Agent::start();
    const N: u64 = 5;
    for _ in 0..N {
        assert_eq!(agent.get("/v1/client/metadata").status, 200);
    }
    let temp = tempfile::tempdir().unwrap();
    let prometheus = PrometheusServer::start(temp.path(), &agent.addr);
    let promql = r#"sum(nomad_caravan_http_requests{job="caravan",route="/v1/client/metadata",status="200"})"#;
    wait_for("Prometheus to have scraped the request count", || {
        (prometheus.query(promql)? == N.to_string()).then_some(())
    });
    // The host's sampled gauges arrive the same way, under Nomad's Prometheus names.
    wait_for("Prometheus to have the host's memory", || {
        let bytes: f64 = prometheus
            .query(r#"nomad_client_host_memory_total{job="caravan"}"#)?
            .parse()
            .ok()?;
        (bytes > 0.0).then_some(())
    });
}
