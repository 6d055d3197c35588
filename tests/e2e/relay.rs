//! Server mode's connections to its nodes: reads reuse one kept connection, a connection the
//! node closed is replaced without failing the read, and a change of state never rides a kept
//! connection (so it is never sent twice).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cluster::claim;
use crate::support::Agent;

/// A stand-in node: answers every request `200 ok`, counting connections and requests;
/// with `close_after_each`, it closes each connection after one answer without saying so
/// (what an idle timeout on the node looks like to the server).
struct FakeNode {
    addr: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl FakeNode {
    fn start(close_after_each: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (conns, reqs) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                let reqs = reqs.clone();
                std::thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0; 4096];
                    loop {
                        // Every relayed request here is a bodiless GET or a small POST whose
                        // body follows its head in the same write: answer once per head.
                        while let Some(end) = find(&pending, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if pending.len() < end + 4 + length {
                                break;
                            }
                            pending.drain(..end + 4 + length);
                            reqs.fetch_add(1, Ordering::SeqCst);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if conn.write_all(answer).is_err() || close_after_each {
                                return;
                            }
                        }
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.connections.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
        )
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A server where `node` has registered as the holder of allocation `alloc`.
fn server_with(dir: &std::path::Path, node: &FakeNode, alloc: &str) -> Agent {
    let srv = Agent::spawn(dir, &["-server", "-node=server"]);
    register(&srv, node, alloc);
    srv
}

/// Register (again: a heartbeat) the fake node, so it stays live however slow the machine.
fn register(srv: &Agent, node: &FakeNode, alloc: &str) {
    let body = claim("c0c0c0c0-0000-4000-8000-0000000000aa", &node.addr, alloc);
    let reply = srv.request("POST", caravan_core::router::REGISTER_PATH, &[], &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
}

const ALLOC: &str = "00000000-0000-4000-8000-0000000000bb";

/// One request through the server to the fake node, which registers again first; the node
/// answers `200 ok` to everything, so that is what the relay must bring back.
fn relay(srv: &Agent, node: &FakeNode, method: &str, target: &str, body: &[u8]) {
    register(srv, node, ALLOC);
    let reply = srv.request(method, target, &[], body);
    assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
}

#[test]
fn relayed_reads_share_one_connection_to_the_node() {
    let temp = tempfile::tempdir().unwrap();
    let node = FakeNode::start(false);
    let srv = server_with(temp.path(), &node, ALLOC);
    for _ in 0..10 {
        relay(
            &srv,
            &node,
            "GET",
            &format!("/v1/client/fs/ls/{ALLOC}"),
            b"",
        );
    }
    // One connection carries them all; a second may open when a read arrives before the
    // first connection has noticed its previous answer ended (a matter of scheduling on a
    // loaded machine). Without reuse it would be ten.
    let (connections, requests) = node.counts();
    assert_eq!(requests, 10);
    assert!(connections <= 3, "{connections} connections for 10 reads");
}

#[test]
fn a_connection_the_node_closed_is_replaced_without_failing_the_read() {
    let temp = tempfile::tempdir().unwrap();
    let node = FakeNode::start(true);
    let srv = server_with(temp.path(), &node, ALLOC);
    for _ in 0..10 {
        let target = format!("/v1/client/fs/stat/{ALLOC}?path=/");
        relay(&srv, &node, "GET", &target, b"");
    }
    // Each read was answered once: a kept connection found closed was not counted as a
    // request, and no read was answered twice.
    assert_eq!(node.counts(), (10, 10));
}

#[test]
fn changes_of_state_get_a_connection_of_their_own() {
    let temp = tempfile::tempdir().unwrap();
    let node = FakeNode::start(false);
    let srv = server_with(temp.path(), &node, ALLOC);
    for _ in 0..3 {
        let target = format!("/v1/client/allocation/{ALLOC}/restart");
        relay(&srv, &node, "POST", &target, br#"{"TaskName":"web"}"#);
    }
    assert_eq!(node.counts(), (3, 3));
}
