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

/// The battery of issues 13 and 28: 300 request bodies trickled a byte at a time from four
/// client addresses, against an agent limited to 256 file descriptors. Each address may hold
/// at most an eighth of the descriptors (32 here, below Nomad's 100), so 128 are admitted and
/// the rest refused, and a client at a fifth address is served while the trickles go on. The
/// minimum body rate, which would close them after its grace, is given a long grace here, so
/// that it is not what makes room.
#[test]
fn three_hundred_trickled_bodies_at_256_descriptors_starve_nobody() {
    use std::io::{Read, Write};
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("limits.hcl");
    std::fs::write(
        &config,
        "limits {\n http_min_body_data_rate_grace = \"1h\"\n}\n",
    )
    .unwrap();
    let config = format!("-config={}", config.display());
    let agent = Agent::start_with_fd_limit(&temp.path().join("data"), 256, &[&config]);
    let from = [
        [127, 0, 0, 2],
        [127, 0, 0, 3],
        [127, 0, 0, 4],
        [127, 0, 0, 5],
    ];
    let mut trickled: Vec<std::net::TcpStream> = (0..300)
        .map(|i| {
            let mut stream = connect_from(from[i % 4], &agent.addr);
            // Refused connections are answered and closed; admitted ones trickle.
            let _ = write!(
                stream,
                "POST /v1/client/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
            );
            stream
        })
        .collect();
    let trickler = Trickler::start(&trickled);
    let mut answers = vec![Vec::new(); trickled.len()];
    let mut closed = vec![false; trickled.len()];
    for stream in &trickled {
        stream.set_nonblocking(true).unwrap();
    }
    let mut read_all = |trickled: &mut [std::net::TcpStream]| {
        for ((stream, answer), closed) in trickled.iter_mut().zip(&mut answers).zip(&mut closed) {
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
        closed.iter().filter(|c| **c).count()
    };
    crate::support::wait_until("all but 128 of the 300 to be refused", || {
        read_all(&mut trickled) >= 172
    });
    // A client at another address is served while the 128 go on trickling.
    crate::support::wait_until("the admitted ones to trickle", || trickler.wrote() >= 128);
    let reply = agent.get("/v1/client/metadata");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        read_all(&mut trickled),
        172,
        "exactly 32 per address admitted"
    );
    let refused = answers
        .iter()
        .filter(|a| a.starts_with(b"HTTP/1.1 429"))
        .count();
    assert!(refused > 0, "refused clients are told why");
    drop(trickler);
    drop(trickled);
}

/// A request body trickled below the minimum data rate is answered 408 once the grace has
/// passed, and its connection closed (before the 30 s body timeout, whose answer differs).
#[test]
fn a_body_below_the_minimum_rate_is_cut_after_the_grace() {
    use std::io::{Read, Write};
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("limits.hcl");
    std::fs::write(
        &config,
        "limits {\n http_min_body_data_rate = 240\n http_min_body_data_rate_grace = \"1s\"\n}\n",
    )
    .unwrap();
    let config = format!("-config={}", config.display());
    let agent = Agent::start_in(&temp.path().join("data"), &[&config]);
    let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
    write!(
        stream,
        "POST /v1/client/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
    )
    .unwrap();
    let trickler = Trickler::start(std::slice::from_ref(&stream));
    let mut answer = Vec::new();
    // The answer, then the close (an end of file, or a reset for the bytes still trickling).
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with("request body arrived below the minimum data rate"),
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
    drop(trickler);
}

/// Writes one byte of body to each stream every 200 ms (5 B/s, far below any rate worth
/// having), up to 90 bytes, so that none completes its 100-byte body; stops when dropped.
struct Trickler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wrote: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Trickler {
    fn start(streams: &[std::net::TcpStream]) -> Self {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        let mut streams: Vec<_> = streams.iter().map(|s| s.try_clone().unwrap()).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wrote = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stopping, counting) = (stop.clone(), wrote.clone());
        std::thread::spawn(move || {
            for _ in 0..90 {
                // Pacing the load, not waiting for a state.
                std::thread::sleep(std::time::Duration::from_millis(200));
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                for stream in &mut streams {
                    if stream.write_all(b" ").is_ok() {
                        counting.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Self { stop, wrote }
    }

    fn wrote(&self) -> usize {
        self.wrote.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Trickler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
