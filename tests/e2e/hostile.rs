//! Regression tests for hostile or unlucky input found by the fault battery (issue 13).

use crate::support::Agent;

/// `readat`, `stream` and `cat` with offsets at the end of the 63-bit offset space are past
/// the end of any file: an empty answer, never a 500 and never Rust debug text.
#[test]
fn offsets_near_two_to_the_63_are_past_the_end() {
    let agent = Agent::start();
    let alloc = &agent.demo_alloc;
    let path = "demo/local/index.html";
    for offset in [
        i64::MAX as u64 - 1,
        i64::MAX as u64,
        (1u64 << 63) - 512,
        1u64 << 62,
    ] {
        let reply = agent.get(&format!(
            "/v1/client/fs/readat/{alloc}?path={path}&offset={offset}&limit=512"
        ));
        assert_eq!(
            reply.status,
            200,
            "readat offset {offset}: {}",
            reply.text()
        );
        assert!(reply.body.is_empty(), "readat offset {offset}");

        let reply = agent.get(&format!(
            "/v1/client/fs/stream/{alloc}?path={path}&offset={offset}&follow=false"
        ));
        assert_eq!(
            reply.status,
            200,
            "stream offset {offset}: {}",
            reply.text()
        );
        let text = reply.text();
        assert!(!text.contains("Io("), "no debug formatting: {text}");
        assert!(!text.contains("invalid argument"), "{text}");
    }
}

/// A chunked body that breaks the chunked encoding is a bad request, not a too-large one.
#[test]
fn a_malformed_chunked_body_is_a_bad_request() {
    use std::io::{Read, Write};
    let agent = Agent::start();
    let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
    write!(
        stream,
        "POST /v1/client/metadata HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "a malformed chunk size is a 400: {answer}"
    );
}

/// Clients that announce a body and never send it cannot starve the others: past
/// `http_max_conns_per_client` (Nomad's 100) the staller is answered 429 at once, and
/// everyone else is still served.
#[test]
fn stalled_bodies_from_one_client_do_not_starve_the_others() {
    use std::io::{Read, Write};
    let agent = Agent::start();
    let stalled: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
            write!(
                stream,
                "POST /v1/client/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
            )
            .unwrap();
            stream
        })
        .collect();
    // Make sure the agent holds all of them before the 101st arrives.
    crate::support::wait_until("the stalled connections to be accepted", || {
        std::fs::read_dir(format!("/proc/{}/fd", agent.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
            > 100
    });
    let mut over = std::net::TcpStream::connect(&agent.addr).unwrap();
    write!(over, "GET /v1/client/metadata HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = over.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.contains("too many concurrent connections"),
        "{answer}"
    );
    // Another client address (loopback has a whole /8) is served as usual.
    let mut other = connect_from([127, 0, 0, 2], &agent.addr);
    write!(
        other,
        "GET /v1/client/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    other.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(stalled);
}

/// A connection to `addr` from the local address `ip`.
fn connect_from(ip: [u8; 4], addr: &str) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((ip, 0).into()).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// With ACLs on, the host's own `/v1/agent/core` needs Nomad's `agent:read` to read and a
/// management token to replace; the allocation lifecycle endpoints check the caller
/// (Nomad's capability) before anything else, exec (not implemented yet) included.
#[test]
fn agent_core_and_unimplemented_alloc_routes_check_the_caller_first() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    let policies = data.join("acl/policies");
    let tokens = data.join("acl/tokens");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(
        policies.join("agent-read.hcl"),
        "agent {\n  policy = \"read\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        policies.join("lifecycle.hcl"),
        "namespace \"default\" {\n  capabilities = [\"alloc-lifecycle\"]\n}\n",
    )
    .unwrap();
    for (name, policy) in [("agent-reader", "agent-read"), ("lifecycle", "lifecycle")] {
        let doc = serde_json::json!({
            "AccessorID": uuid::Uuid::new_v4().to_string(),
            "SecretID": format!("secret-{name}"),
            "Name": name, "Type": "client", "Policies": [policy],
        });
        std::fs::write(tokens.join(format!("{name}.json")), doc.to_string()).unwrap();
    }
    let agent = Agent::start_in(data, &["-acl-enabled"]);
    let as_token = |method: &str, target: &str, token: Option<&str>| {
        let headers: Vec<(&str, &str)> = token.map(|t| ("X-Nomad-Token", t)).into_iter().collect();
        let reply = agent.request(method, target, &headers, b"");
        (reply.status, reply.text())
    };
    let denied = (403, "Permission denied".to_string());
    assert_eq!(as_token("GET", "/v1/agent/core", None), denied);
    assert_eq!(
        as_token("GET", "/v1/agent/core", Some("secret-lifecycle")),
        denied
    );
    let (status, body) = as_token("GET", "/v1/agent/core", Some("secret-agent-reader"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SHA256"), "{body}");
    assert_eq!(
        as_token("PUT", "/v1/agent/core", Some("secret-agent-reader")),
        denied
    );
    assert_eq!(
        as_token("GET", "/v1/agent/core", Some("secret-nope")),
        (403, "ACL token not found".to_string())
    );

    let alloc = &agent.demo_alloc;
    for action in ["restart", "signal"] {
        let target = format!("/v1/client/allocation/{alloc}/{action}");
        assert_eq!(as_token("POST", &target, None), denied, "{action}");
        assert_eq!(
            as_token("POST", &target, Some("secret-agent-reader")),
            denied,
            "{action}"
        );
        let (status, body) = as_token("POST", &target, Some("secret-lifecycle"));
        assert_ne!(
            status, 403,
            "{action}: alloc-lifecycle lets it through: {body}"
        );
    }
    // exec needs its own capabilities, checked before anything else.
    let exec = format!("/v1/client/allocation/{alloc}/exec");
    assert_eq!(as_token("GET", &exec, Some("secret-lifecycle")), denied);
}

/// The battery: 300 clients that announce a body and never send it, against an agent
/// limited to 256 file descriptors. Nomad's per-client limit keeps them from taking every
/// descriptor, and a client at another address is still served.
#[test]
fn three_hundred_stalled_bodies_at_256_descriptors_starve_nobody() {
    use std::io::{Read, Write};
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_with_fd_limit(temp.path(), 256);
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
        // Refused connections are answered and closed; admitted ones stall.
        let _ = write!(
            stream,
            "POST /v1/client/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
        );
        stalled.push(stream);
    }
    // Whichever 100 the agent admitted stay silent (their bodies never come); every other
    // one is answered 429 and closed, or, in a moment of descriptor exhaustion, closed at
    // once by the accept loop's reserve.
    let mut answers = vec![Vec::new(); stalled.len()];
    let mut closed = vec![false; stalled.len()];
    for stream in &stalled {
        stream.set_nonblocking(true).unwrap();
    }
    crate::support::wait_until("all but 100 of the 300 to be refused", || {
        for ((stream, answer), closed) in stalled.iter_mut().zip(&mut answers).zip(&mut closed) {
            let mut buf = [0u8; 512];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => *closed = true,
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => *closed = true,
                }
                break;
            }
        }
        closed.iter().filter(|c| **c).count() >= 200
    });
    let refused = answers
        .iter()
        .filter(|a| a.starts_with(b"HTTP/1.1 429"))
        .count();
    assert_eq!(
        closed.iter().filter(|c| **c).count(),
        200,
        "exactly 100 admitted at once"
    );
    assert!(refused > 0, "refused clients are told why");
    let mut other = connect_from([127, 0, 0, 3], &agent.addr);
    write!(
        other,
        "GET /v1/client/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    other.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(stalled);
}
