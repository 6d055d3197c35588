//! Server mode with the node registry in etcd (`server { registry = "etcd" }`): a real etcd
//! (Debian's `etcd-server`) on loopback, three servers, clients each registered with one of
//! them; every server answers for every allocation, a dead client leaves every server's view
//! when its lease expires, and the servers keep serving while etcd is away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use caravan::http_client;

use crate::support::{Agent, place, request, wait_until};

const ETCD: &str = "/usr/bin/etcd";

/// A single-member etcd on loopback, with its data in `dir`.
pub struct Etcd {
    child: Option<Child>,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    pub fn start(dir: &Path) -> Self {
        let mut etcd = Self::stopped(dir);
        etcd.spawn();
        etcd
    }

    /// One with its ports chosen, not started yet.
    pub fn stopped(dir: &Path) -> Self {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: the etcd tests need Debian's etcd-server \
             (scripts/ensure-packages installs it)"
        );
        std::fs::create_dir_all(dir).unwrap();
        Self {
            child: None,
            dir: dir.to_path_buf(),
            client_port: free_port(),
            peer_port: free_port(),
        }
    }

    /// `host:port` of its client URL.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .unwrap();
        let child = Command::new(ETCD)
            .arg("--name=e2e")
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=e2e={peer}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("failed to start etcd");
        self.child = Some(child);
        let addr = self.endpoint();
        wait_until("etcd to be healthy", || healthy(&addr));
    }

    /// SIGKILL it (its data stays).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same ports and data.
    pub fn restart(&mut self) {
        self.spawn();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(4000)..];
            eprintln!("--- etcd log (tail) ---\n{tail}");
        }
    }
}

/// Whether etcd answers `GET /health` with `"health":"true"`.
fn healthy(addr: &str) -> bool {
    let Ok(req) = http_client::request("GET", "/health", &[], Vec::new()) else {
        return false;
    };
    let reply = http_client::block_on(async {
        tokio::time::timeout(Duration::from_secs(5), http_client::fetch(addr, req)).await
    });
    matches!(reply, Ok(Ok(r)) if r.status == 200
        && String::from_utf8_lossy(&r.body).contains("\"true\""))
}

fn server(dir: &Path, name: &str, etcd: &Etcd) -> Agent {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("server.hcl");
    std::fs::write(
        &config,
        format!(
            "server {{\n  enabled = true\n  registry = \"etcd\"\n  etcd {{\n    endpoints = [\"{}\"]\n    prefix = \"/caravan-e2e/\"\n  }}\n}}\n",
            etcd.endpoint()
        ),
    )
    .unwrap();
    Agent::spawn(
        dir,
        &[
            "-server",
            &format!("-node={name}"),
            &format!("-config={}", config.display()),
        ],
    )
}

fn client(dir: &Path, name: &str, server: &Agent) -> Agent {
    Agent::spawn(
        dir,
        &[
            &format!("-node={name}"),
            &format!("-servers={}", server.addr),
        ],
    )
}

/// The `Status` a server gives node `id`, if it knows it.
fn status(server: &Agent, id: &str) -> Option<String> {
    let reply = server.get(&format!("/v1/node/{id}"));
    (reply.status == 200).then(|| reply.json()["Status"].as_str().unwrap_or("").to_string())
}

fn write(agent: &Agent, alloc: &str, path: &str, data: &[u8]) {
    let file = agent.data_dir.join("alloc").join(alloc).join(path);
    std::fs::write(file, data).unwrap();
}

/// `(ok, message)` of the server part of `/v1/agent/health`.
fn server_health(agent: &Agent) -> (bool, String) {
    let health = agent.get("/v1/agent/health").json();
    (
        health["server"]["ok"].as_bool().unwrap(),
        health["server"]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn three_servers_share_one_registry_and_forget_a_dead_node() {
    let temp = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(&temp.path().join("etcd"));
    let servers: Vec<Agent> = ["a", "b", "c"]
        .iter()
        .map(|n| server(&temp.path().join(n), &format!("server-{n}"), &etcd))
        .collect();
    // Each client registers with a different server.
    let c1 = client(&temp.path().join("c1"), "client-1", &servers[0]);
    let mut c2 = Some(client(&temp.path().join("c2"), "client-2", &servers[1]));
    let placed: Vec<(String, String, String)> = [&c1, c2.as_ref().unwrap()]
        .into_iter()
        .map(|c| {
            let alloc = place(c, &["web"]);
            let text = format!("hello from {}\n", c.node_id);
            write(c, &alloc, "alloc/data/page.txt", text.as_bytes());
            (c.node_id.clone(), alloc, text)
        })
        .collect();
    for srv in &servers {
        assert_eq!(server_health(srv), (true, "ok".to_string()));
        for (node, alloc, _) in &placed {
            wait_until("every server to know every node and allocation", || {
                status(srv, node).as_deref() == Some("ready")
                    && srv.get(&format!("/v1/allocation/{alloc}")).status == 200
            });
        }
    }
    // Every server answers for every allocation, whichever server the node registered with.
    for srv in &servers {
        for (_, alloc, text) in &placed {
            let cat = srv.get(&format!(
                "/v1/client/fs/cat/{alloc}?path=alloc/data/page.txt"
            ));
            assert_eq!(
                (cat.status, cat.text()),
                (200, text.clone()),
                "{}",
                srv.addr
            );
            let mut stream = srv.open_stream(
                &format!("/v1/client/fs/stream/{alloc}?path=alloc/data/page.txt&follow=true"),
                &[],
            );
            assert_eq!(stream.status, 200);
            let encoded = base64_of(text.as_bytes());
            stream.read_until("the file's frame through the server", |body| {
                String::from_utf8_lossy(body).contains(&encoded)
            });
        }
    }

    // A client killed outright leaves every server's view when its lease expires.
    let dead = c2.take().unwrap();
    let dead_id = dead.node_id.clone();
    dead.signal(rustix::process::Signal::KILL);
    drop(dead);
    for srv in &servers {
        wait_until("the dead node to be down on every server", || {
            status(srv, &dead_id).is_none_or(|s| s == "down")
        });
        assert_eq!(status(srv, &c1.node_id).as_deref(), Some("ready"));
    }
    let dead_alloc = &placed[1].1;
    for srv in &servers {
        let gone = srv.get(&format!("/v1/client/fs/ls/{dead_alloc}"));
        assert_eq!(gone.status, 404, "{}", gone.text());
    }
}

#[test]
fn servers_serve_from_their_last_view_while_etcd_is_away() {
    let temp = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(&temp.path().join("etcd"));
    let servers: Vec<Agent> = ["a", "b", "c"]
        .iter()
        .map(|n| server(&temp.path().join(n), &format!("server-{n}"), &etcd))
        .collect();
    let c1 = client(&temp.path().join("c1"), "client-1", &servers[0]);
    let c2 = client(&temp.path().join("c2"), "client-2", &servers[1]);
    let mut targets = Vec::new();
    for c in [&c1, &c2] {
        let alloc = place(c, &["web"]);
        write(c, &alloc, "alloc/data/page.txt", b"served\n");
        targets.push(format!(
            "/v1/client/fs/cat/{alloc}?path=alloc/data/page.txt"
        ));
    }
    for srv in &servers {
        for c in [&c1, &c2] {
            wait_until("every server to know both nodes", || {
                status(srv, &c.node_id).as_deref() == Some("ready")
            });
        }
        for target in &targets {
            wait_until("every server to know both allocations", || {
                srv.get(target).status == 200
            });
        }
    }

    // A load of forwarded requests through every server, for the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let load = {
        let (stop, rounds, targets) = (stop.clone(), rounds.clone(), targets.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                for addr in &addrs {
                    for target in &targets {
                        let reply = request(addr, "GET", target, &[], b"");
                        if reply.status != 200 || reply.body != b"served\n" {
                            failures.push(format!("{addr}{target}: {}", reply.status));
                        }
                    }
                }
                rounds.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };
    let wait_rounds = |what: &str, more: usize| {
        let from = rounds.load(Ordering::SeqCst);
        wait_until(what, || rounds.load(Ordering::SeqCst) >= from + more);
    };
    wait_rounds("the load to run", 3);

    etcd.kill();
    for srv in &servers {
        wait_until("every server to say etcd is away", || {
            let reply = srv.get("/v1/agent/health");
            reply.status == 500 && !server_health(srv).0
        });
        crate::support::wait_log(srv, "etcd registry: watching failed");
    }
    wait_rounds("the load to run during the outage", 5);
    // A client that registers during the outage is known to its server at once...
    let c3 = client(&temp.path().join("c3"), "client-3", &servers[2]);
    wait_until("the new node on its own server", || {
        status(&servers[2], &c3.node_id).as_deref() == Some("ready")
    });
    wait_rounds("the load to run during the outage", 5);
    for srv in &servers {
        let (ok, message) = server_health(srv);
        assert!(!ok && message.contains("last known view"), "{message}");
        // ... and the outage is logged once, not per heartbeat.
        let log = srv.log();
        assert_eq!(
            log.matches("etcd registry: watching failed").count(),
            1,
            "{log}"
        );
        assert!(
            log.matches("etcd registry: writing failed").count() <= 1,
            "{log}"
        );
    }

    etcd.restart();
    for srv in &servers {
        wait_until("every server in sync with etcd again", || {
            srv.get("/v1/agent/health").status == 200
        });
        // ... and to the others once etcd is back: the registrations catch up.
        wait_until(
            "the node registered during the outage on every server",
            || status(srv, &c3.node_id).as_deref() == Some("ready"),
        );
        for c in [&c1, &c2] {
            assert_eq!(status(srv, &c.node_id).as_deref(), Some("ready"));
        }
    }
    wait_rounds("the load to run after the outage", 3);
    stop.store(true, Ordering::SeqCst);
    let failures = load.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} forwarded requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn a_server_starts_without_etcd_and_joins_it_when_it_comes() {
    let temp = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::stopped(&temp.path().join("etcd"));
    let srv = server(&temp.path().join("a"), "server-a", &etcd);
    let cli = client(&temp.path().join("c1"), "client-1", &srv);
    // It serves, from what it hears itself, and says etcd is missing.
    wait_until("the node on its server", || {
        status(&srv, &cli.node_id).as_deref() == Some("ready")
    });
    let (ok, message) = server_health(&srv);
    assert!(!ok && message.contains("etcd registry"), "{message}");
    assert_eq!(srv.get("/v1/agent/health").status, 500);
    etcd.restart();
    wait_until("the server in sync with etcd", || {
        srv.get("/v1/agent/health").status == 200
    });
    // Its registration reached etcd: a second server knows the node from etcd alone.
    let other = server(&temp.path().join("b"), "server-b", &etcd);
    wait_until("the node on the other server", || {
        status(&other, &cli.node_id).as_deref() == Some("ready")
    });
    let health = other.get("/v1/agent/health").json();
    assert_eq!(health["server"]["ok"], true);
    assert!(health.get("client").is_none(), "{health}");
}

/// A client that heartbeats to both servers and dies while etcd is away goes down on each
/// from that server's own heartbeats (no lease needed), and what it ran reads `lost`.
#[test]
fn while_etcd_is_away_a_dead_node_goes_down_on_the_servers_it_heartbeat_to() {
    let temp = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(&temp.path().join("etcd"));
    let servers: Vec<Agent> = ["a", "b"]
        .iter()
        .map(|n| server(&temp.path().join(n), &format!("server-{n}"), &etcd))
        .collect();
    let both = format!("-servers={},{}", servers[0].addr, servers[1].addr);
    let node = Agent::spawn(&temp.path().join("c1"), &["-node=client-1", &both]);
    let alloc = place(&node, &["web"]);
    let client_status = |srv: &Agent| {
        let one = srv.get(&format!("/v1/allocation/{alloc}"));
        let all = srv.get("/v1/allocations");
        (one.status == 200).then(|| {
            let listed = all
                .json()
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["ID"] == alloc.as_str())
                .cloned();
            (
                one.json()["ClientStatus"].clone(),
                listed.map(|a| a["ClientStatus"].clone()),
            )
        })
    };
    for srv in &servers {
        wait_until(
            "every server to know the node and its running allocation",
            || {
                status(srv, &node.node_id).as_deref() == Some("ready")
                    && client_status(srv) == Some(("running".into(), Some("running".into())))
            },
        );
    }
    etcd.kill();
    for srv in &servers {
        wait_until("every server to say etcd is away", || !server_health(srv).0);
    }
    let id = node.node_id.clone();
    node.signal(rustix::process::Signal::KILL);
    drop(node);
    for srv in &servers {
        wait_until(
            "the dead node to be down on every server without etcd",
            || status(srv, &id).as_deref() == Some("down"),
        );
        assert_eq!(
            client_status(srv),
            Some(("lost".into(), Some("lost".into())))
        );
        let out = Command::new(env!("CARGO_BIN_EXE_caravan"))
            .args(["alloc", "status", &alloc])
            .env("NOMAD_ADDR", format!("http://{}", srv.addr))
            .env_remove("NOMAD_TOKEN")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with("Client Status"));
        assert!(line.is_some_and(|l| l.ends_with("= lost")), "{stdout}");
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
