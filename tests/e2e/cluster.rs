//! Server mode: client endpoints through a server, routed by allocation and `node_id`,
//! streams included; nodes going down and coming back; two servers side by side.

use std::path::Path;

use crate::support::{Agent, place, wait_until};

pub(crate) fn server(dir: &Path) -> Agent {
    Agent::spawn(dir, &["-server", "-node=server"])
}

pub(crate) fn client(dir: &Path, name: &str, servers: &[&Agent]) -> Agent {
    let list: Vec<&str> = servers.iter().map(|s| s.addr.as_str()).collect();
    Agent::spawn(
        dir,
        &[
            &format!("-node={name}"),
            &format!("-servers={}", list.join(",")),
        ],
    )
}

/// Wait until the server sees `count` ready nodes.
pub(crate) fn wait_for_nodes(server: &Agent, ready: usize) {
    wait_until("the server's node count", || {
        let nodes = server.get("/v1/nodes").json();
        nodes
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count()
            == ready
    });
}

fn write(agent: &Agent, alloc: &str, path: &str, data: &[u8]) {
    let file = agent.data_dir.join("alloc").join(alloc).join(path);
    std::fs::write(file, data).unwrap();
}

#[test]
fn a_server_answers_for_its_clients_and_notices_them_leave() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("server"));
    let mut clients: Vec<Agent> = (0..3)
        .map(|i| {
            client(
                &temp.path().join(format!("c{i}")),
                &format!("client-{i}"),
                &[&srv],
            )
        })
        .collect();
    let allocs: Vec<String> = clients.iter().map(|c| place(c, &["web"])).collect();
    for (client, alloc) in clients.iter().zip(&allocs) {
        write(
            client,
            alloc,
            "alloc/data/page.txt",
            format!("hello from {}\n", client.node_id).as_bytes(),
        );
    }
    wait_for_nodes(&srv, 3);
    wait_until("the server to know every allocation", || {
        allocs
            .iter()
            .all(|a| srv.get(&format!("/v1/allocation/{a}")).status == 200)
    });

    for (client, alloc) in clients.iter().zip(&allocs) {
        for target in [
            format!("/v1/client/fs/ls/{alloc}?path=/alloc/data"),
            format!("/v1/client/fs/stat/{alloc}?path=alloc/data/page.txt"),
            format!("/v1/client/fs/cat/{alloc}?path=alloc/data/page.txt"),
            format!("/v1/client/fs/readat/{alloc}?path=alloc/data/page.txt&offset=6&limit=4"),
            format!("/v1/client/fs/stream/{alloc}?path=alloc/data/page.txt&follow=false"),
            format!("/v1/client/fs/logs/{alloc}?task=web&type=stdout"),
            format!("/v1/client/allocation/{alloc}/gc"),
            format!("/v1/client/stats?node_id={}", client.node_id),
            format!("/v1/client/metadata?node_id={}", client.node_id),
        ] {
            let direct = client.get(&target);
            let relayed = srv.get(&target);
            assert_eq!(
                relayed.status,
                direct.status,
                "{target}: {}",
                relayed.text()
            );
            if !target.contains("/stats") {
                assert_eq!(relayed.body, direct.body, "{target}");
            }
        }
        let stats = srv
            .get(&format!("/v1/client/allocation/{alloc}/stats"))
            .json();
        assert!(stats.get("ResourceUsage").is_some());
        let allocation = srv.get(&format!("/v1/allocation/{alloc}")).json();
        assert_eq!(allocation["NodeID"], client.node_id);
        let node = srv.get(&format!("/v1/node/{}", client.node_id)).json();
        assert_eq!(
            node["HTTPAddr"], client.addr,
            "clients dial HTTPAddr directly"
        );
    }

    // Writes through the server land on the client.
    let target = &clients[1];
    let applied = srv.request(
        "POST",
        &format!("/v1/client/metadata?node_id={}", target.node_id),
        &[],
        br#"{"Meta":{"via":"server"}}"#,
    );
    assert_eq!(applied.status, 200, "{}", applied.text());
    assert_eq!(
        target.get("/v1/client/metadata").json()["Meta"]["via"],
        "server"
    );

    // node_id missing / unknown on a server without a client of its own.
    let missing = srv.get("/v1/client/stats");
    assert_eq!(
        (missing.status, missing.text()),
        (400, "No local Node and node_id not provided".to_string())
    );
    let unknown = srv.get("/v1/client/stats?node_id=nope");
    assert_eq!(
        (unknown.status, unknown.text()),
        (404, "Unknown node \"nope\"".to_string())
    );
    // A forwarded request is never forwarded again.
    let looped = clients[0].request(
        "GET",
        "/v1/client/stats?node_id=elsewhere",
        &[("X-Caravan-Forwarded", "1")],
        b"",
    );
    assert_eq!(looped.status, 404);

    // A client that dies reads as down within the TTL; its endpoints say there is no path.
    let gone = clients.remove(2);
    let (gone_dir, gone_id, gone_alloc) = (
        gone.data_dir.clone(),
        gone.node_id.clone(),
        allocs[2].clone(),
    );
    drop(gone);
    wait_for_nodes(&srv, 2);
    let down = srv.get(&format!("/v1/client/fs/ls/{gone_alloc}"));
    assert_eq!(
        (down.status, down.text()),
        (404, "No path to node".to_string())
    );
    let down = srv.get(&format!("/v1/client/stats?node_id={gone_id}"));
    assert_eq!(
        (down.status, down.text()),
        (404, "No path to node".to_string())
    );
    // It comes back when the client restarts.
    let back = client(&gone_dir, "client-2", &[&srv]);
    assert_eq!(back.node_id, gone_id);
    wait_for_nodes(&srv, 3);
    wait_until(
        "the restarted client's allocation through the server",
        || srv.get(&format!("/v1/client/fs/ls/{gone_alloc}")).status == 200,
    );
}

#[test]
fn follow_streams_are_relayed_live() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("server"));
    let cli = client(&temp.path().join("client"), "client", &[&srv]);
    let alloc = place(&cli, &["web"]);
    write(&cli, &alloc, "alloc/data/live.log", b"first\n");
    wait_until("the server to know the allocation", || {
        srv.get(&format!("/v1/allocation/{alloc}")).status == 200
    });
    let mut stream = srv.open_stream(
        &format!("/v1/client/fs/stream/{alloc}?path=alloc/data/live.log"),
        &[],
    );
    assert_eq!(stream.status, 200);
    // What keeps a reverse proxy from buffering it (hashicorp/nomad#14056), relayed too.
    assert_eq!(stream.header("x-accel-buffering"), Some("no"));
    assert_eq!(stream.header("cache-control"), Some("no-cache"));
    // The first frame relayed (heartbeats may come before it on a slow machine).
    stream.read_until("the first frame", |body| {
        String::from_utf8_lossy(body).contains("Zmlyc3QK")
    });
    let file = cli
        .data_dir
        .join("alloc")
        .join(&alloc)
        .join("alloc/data/live.log");
    std::io::Write::write_all(
        &mut std::fs::OpenOptions::new().append(true).open(file).unwrap(),
        b"second\n",
    )
    .unwrap();
    // Appended data relayed live: the stream stays open and brings it.
    stream.read_until("the appended data", |body| {
        String::from_utf8_lossy(body).contains("c2Vjb25kCg==")
    });
}

#[test]
fn two_servers_one_killed() {
    let temp = tempfile::tempdir().unwrap();
    let a = server(&temp.path().join("a"));
    let b = server(&temp.path().join("b"));
    let cli = client(&temp.path().join("client"), "client", &[&a, &b]);
    let alloc = place(&cli, &["web"]);
    wait_for_nodes(&a, 1);
    wait_for_nodes(&b, 1);
    drop(a);
    // The client is served through the server left, once that has noticed.
    wait_until("the client through the server left", || {
        b.get(&format!("/v1/client/fs/ls/{alloc}")).status == 200
    });
    wait_for_nodes(&b, 1);
}

#[test]
fn registration_with_acls_needs_node_write() {
    use crate::acl::{REGISTRATION, write_acl_files};
    let temp = tempfile::tempdir().unwrap();
    write_acl_files(temp.path());
    let srv = Agent::spawn(temp.path(), &["-server", "-node=server", "-acl-enabled"]);
    let register = |token: Option<&str>| {
        let headers: Vec<(&str, &str)> = token
            .map(|t| vec![("X-Nomad-Token", t)])
            .unwrap_or_default();
        srv.request(
            "POST",
            caravan_core::router::REGISTER_PATH,
            &headers,
            REGISTRATION,
        )
    };
    for token in [None, Some("secret-node-read"), Some("secret-write")] {
        let reply = register(token);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (403, "Permission denied"),
            "{token:?}"
        );
    }
    let unknown = register(Some("not-a-token"));
    assert_eq!(
        (unknown.status, unknown.text().as_str()),
        (403, "ACL token not found")
    );
    let nodes = || {
        srv.request(
            "GET",
            "/v1/nodes",
            &[("X-Nomad-Token", "secret-node-read")],
            b"",
        )
        .json()
    };
    assert_eq!(
        nodes().as_array().unwrap().len(),
        0,
        "nothing refused was recorded"
    );
    let reply = register(Some("secret-node-write"));
    assert_eq!((reply.status, reply.text().as_str()), (200, ""));
    let listed = nodes();
    assert_eq!(listed[0]["Name"], "outsider");
    assert_eq!(listed[0]["HTTPAddr"], "127.0.0.1:9");
    // The core validates what it records.
    let invalid = srv.request(
        "POST",
        caravan_core::router::REGISTER_PATH,
        &[("X-Nomad-Token", "secret-node-write")],
        br#"{"Node":{"ID":"x","Name":"","Datacenter":"dc1","HTTPAddr":"127.0.0.1:9"}}"#,
    );
    assert_eq!(
        (invalid.status, invalid.text().as_str()),
        (400, "missing node name for client registration")
    );
}

#[test]
fn restart_and_signal_through_a_server() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("server"));
    let cli = client(&temp.path().join("client"), "client", &[&srv]);
    let alloc = place(&cli, &["web"]);
    let restarts = |agent: &Agent| {
        let reply = agent.get(&format!("/v1/allocation/{alloc}"));
        (reply.status == 200)
            .then(|| reply.json()["TaskStates"]["web"].clone())
            .filter(|web| web["State"] == "running")
            .map(|web| web["Restarts"].as_u64().unwrap_or(0))
    };
    wait_until("the server to know the running allocation", || {
        restarts(&srv) == Some(0)
    });
    let post = |action: &str, body: &str| {
        srv.request(
            "POST",
            &format!("/v1/client/allocation/{alloc}/{action}"),
            &[],
            body.as_bytes(),
        )
        .status
    };
    assert_eq!(post("signal", r#"{"Signal":"SIGCONT","Task":"web"}"#), 200);
    assert_eq!(post("restart", r#"{"TaskName":"web"}"#), 200);
    // Counted on the client, and reported to the server with the next heartbeat.
    wait_until("the restart on the client", || restarts(&cli) == Some(1));
    wait_until("the restart through the server", || {
        restarts(&srv) == Some(1)
    });
}

/// A listener that records every byte any connection sends it.
pub struct Recorder {
    pub addr: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Recorder {
    pub fn start() -> Self {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (sink, count) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut buf = [0; 4096];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Self {
            addr,
            seen,
            connections,
        }
    }

    /// How many connections reached it, and everything they sent.
    pub fn reached(&self) -> (usize, Vec<u8>) {
        (
            self.connections.load(std::sync::atomic::Ordering::SeqCst),
            self.seen.lock().unwrap().clone(),
        )
    }
}

/// A registration of node `id` at `addr` holding allocation `alloc`.
pub fn claim(id: &str, addr: &str, alloc: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "Node": {"ID": id, "Name": "rogue", "Datacenter": "dc1", "HTTPAddr": addr},
        "Allocations": [{"spec": {"ID": alloc, "Namespace": "default"}, "client_status": "running"}],
    }))
    .unwrap()
}

#[test]
fn a_rogue_registration_cannot_take_a_live_nodes_allocation() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("srv"));
    let c1 = client(&temp.path().join("c1"), "c1", &[&srv]);
    wait_for_nodes(&srv, 1);
    let alloc = place(&c1, &["web"]);
    wait_until("the server to know the allocation", || {
        srv.get(&format!("/v1/allocation/{alloc}")).status == 200
    });
    let rogue = Recorder::start();

    // Another node claiming c1's allocation, or c1's own id from another address: refused.
    for body in [
        claim("c0c0c0c0-0000-4000-8000-00000000dead", &rogue.addr, &alloc),
        claim(&c1.node_id, &rogue.addr, &alloc),
    ] {
        let reply = srv.request("POST", caravan_core::router::REGISTER_PATH, &[], &body);
        assert_eq!(reply.status, 409, "{}", reply.text());
    }
    crate::support::wait_log(&srv, "refused the registration of node");

    // Requests for the allocation still go to c1, and nothing reaches the rogue's address.
    let token = [("X-Nomad-Token", "the-callers-secret-token")];
    for _ in 0..5 {
        let reply = srv.request("GET", &format!("/v1/client/fs/ls/{alloc}"), &token, b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let direct = c1.request("GET", &format!("/v1/client/fs/ls/{alloc}"), &token, b"");
        assert_eq!(reply.body, direct.body);
    }
    assert_eq!(
        srv.get(&format!("/v1/allocation/{alloc}")).json()["NodeID"],
        c1.node_id.as_str()
    );
    assert_eq!(rogue.reached(), (0, Vec::new()));
}

#[test]
fn two_nodes_claiming_one_allocation_at_once_admit_exactly_one() {
    // The core's conflict check and the registry's record happen under one lock on the
    // server: of two simultaneous claims, one wins and the other is told who holds it.
    let temp = tempfile::tempdir().unwrap();
    let srv = std::sync::Arc::new(server(&temp.path().join("srv")));
    for round in 0..20u32 {
        let alloc = format!("00000000-0000-4000-8000-{round:012x}");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let claims: Vec<_> = (0..2u32)
            .map(|side| {
                let node = format!("c0c0c0c0-0000-4000-a{side:03x}-{round:012x}");
                let body = claim(&node, &format!("127.0.0.1:{}", 1 + side), &alloc);
                let (srv, barrier) = (srv.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    srv.request("POST", caravan_core::router::REGISTER_PATH, &[], &body)
                        .status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = claims.into_iter().map(|t| t.join().unwrap()).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
    }
}

/// A client the server turns away says why in its own log (the server's answer), not only
/// that it cannot register.
#[test]
fn a_refused_client_logs_the_servers_reason() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("srv"));
    let c1 = client(&temp.path().join("c1"), "c1", &[&srv]);
    let alloc = place(&c1, &["web"]);
    wait_until("the server to know the allocation", || {
        srv.get(&format!("/v1/allocation/{alloc}")).status == 200
    });
    // A second client given the same allocation: the server refuses its heartbeat.
    let c2 = client(&temp.path().join("c2"), "c2", &[&srv]);
    let spec = std::fs::read(c1.data_dir.join("specs").join(format!("{alloc}.json"))).unwrap();
    let specs = c2.data_dir.join("specs");
    std::fs::write(specs.join(".claim.tmp"), spec).unwrap();
    std::fs::rename(
        specs.join(".claim.tmp"),
        specs.join(format!("{alloc}.json")),
    )
    .unwrap();
    crate::support::wait_log(
        &c2,
        &format!(
            "it refused (409): allocation {alloc} is held by live node {}",
            c1.node_id
        ),
    );
}

/// A client restarted on a new port proves with its secret (Nomad's `SecretID`, kept in its
/// data dir) that it is the same node: the server takes the new address at once instead of
/// refusing it until the old registration lapses. Without the secret, or with another, a
/// live node's id from another address is still refused.
#[test]
fn a_client_restarted_on_a_new_port_is_re_admitted_at_once() {
    let temp = tempfile::tempdir().unwrap();
    let srv = server(&temp.path().join("srv"));
    let dir = temp.path().join("c1");
    let http_addr = |id: &str| {
        let node = srv.get(&format!("/v1/node/{id}"));
        (node.status == 200).then(|| node.json()["HTTPAddr"].clone())
    };
    let first = client(&dir, "c1", &[&srv]);
    let id = first.node_id.clone();
    wait_until("the node on the server", || {
        http_addr(&id).is_some_and(|a| a == first.addr.as_str())
    });
    first.signal(rustix::process::Signal::KILL);
    drop(first);
    let secret = caravan::store::StateStore::open(&dir.join("client"))
        .unwrap()
        .node_secret()
        .unwrap();
    let again = client(&dir, "c1", &[&srv]);
    wait_until("the server to take the new address", || {
        http_addr(&id).is_some_and(|a| a == again.addr.as_str())
    });
    assert!(!again.log().contains("cannot register"), "{}", again.log());

    // While the node is live: a claim of its id from elsewhere needs its secret.
    let claim_id = |secret: Option<&str>| {
        let mut body: serde_json::Value =
            serde_json::from_slice(&claim(&id, "127.0.0.1:9", "")).unwrap();
        body["Allocations"] = serde_json::json!([]);
        if let Some(secret) = secret {
            body["SecretID"] = secret.into();
        }
        let reply = srv.request(
            "POST",
            caravan_core::router::REGISTER_PATH,
            &[],
            body.to_string().as_bytes(),
        );
        (reply.status, reply.text())
    };
    let (status, text) = claim_id(None);
    assert_eq!(status, 409, "{text}");
    assert_eq!(claim_id(Some("another-secret")).0, 409);
    assert_eq!(claim_id(Some(&secret)), (200, String::new()));
    assert!(
        !srv.log().contains(&secret),
        "the secret reached the server's log"
    );
}
