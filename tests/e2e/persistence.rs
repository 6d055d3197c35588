//! State that must survive: node identity and dynamic metadata across restarts, and
//! concurrent metadata applies that lose nothing.

use crate::support::{Agent, wait_log_after};

#[test]
fn dynamic_metadata_and_node_id_survive_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let node_id = agent.node_id.clone();
    let reply = agent.request(
        "POST",
        "/v1/client/metadata",
        &[],
        br#"{"Meta":{"kept":"yes","connect.log_level":null}}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(agent.terminate().success(), "SIGTERM is a clean shutdown");

    let agent = Agent::start_in(temp.path(), &[]);
    assert_eq!(agent.node_id, node_id);
    let meta = agent.get("/v1/client/metadata").json();
    assert_eq!(meta["Meta"]["kept"], "yes");
    assert_eq!(
        meta["Dynamic"]["connect.log_level"],
        serde_json::Value::Null
    );
    assert!(meta["Meta"].get("connect.log_level").is_none());
}

#[test]
fn concurrent_applies_lose_no_key() {
    let agent = Agent::start();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let agent = &agent;
            scope.spawn(move || {
                for i in 0..25 {
                    let body = format!(r#"{{"Meta":{{"w{worker}.k{i}":"{i}"}}}}"#);
                    let reply = agent.request("POST", "/v1/client/metadata", &[], body.as_bytes());
                    assert_eq!(reply.status, 200, "{}", reply.text());
                }
            });
        }
    });
    let meta = agent.get("/v1/client/metadata").json();
    let dynamic = meta["Dynamic"].as_object().unwrap();
    assert_eq!(
        dynamic.len(),
        200,
        "every key of every concurrent apply is kept"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    use std::io::{Read, Write};
    let mut agent = Agent::start();
    let data: Vec<u8> = (0..16_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(agent.alloc_dir().join("alloc/data/big.bin"), &data).unwrap();
    let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
    let target = format!(
        "/v1/client/fs/cat/{}?path=alloc/data/big.bin",
        agent.demo_alloc
    );
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 4096];
    stream.read_exact(&mut first).unwrap();
    let logged = agent.log().len();
    agent.send_sigterm();
    // The rest is read only once the agent is shutting down, so the request is in flight
    // through the shutdown.
    wait_log_after(&agent, logged, "shutting down: ");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    let mut raw = first.to_vec();
    raw.extend_from_slice(&rest);
    let body_start = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(raw[body_start..] == data[..], "the response was cut short");
    assert!(agent.wait_exit().success());
}
