use super::*;

#[test]
fn the_agent_comes_from_nomads_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let agent = Agent::from_vars(vars(&[])).unwrap();
    assert_eq!(agent.host, "127.0.0.1:4646");
    assert_eq!(agent.token, None);
    assert!(agent.tls.is_none());
    let agent = Agent::from_vars(vars(&[
        ("NOMAD_ADDR", "http://10.0.0.1:5000/"),
        ("NOMAD_TOKEN", " s3cret\n"),
        ("NOMAD_CACERT", "/nonexistent"),
    ]))
    .unwrap();
    assert_eq!(agent.host, "10.0.0.1:5000");
    assert_eq!(agent.token.as_deref(), Some("s3cret"));
    assert!(agent.tls.is_none(), "TLS variables only count for https");
    let agent = Agent::from_vars(vars(&[
        ("NOMAD_ADDR", "https://10.0.0.1:5000"),
        ("NOMAD_SKIP_VERIFY", "true"),
    ]))
    .unwrap();
    assert_eq!(agent.host, "10.0.0.1:5000");
    assert!(agent.tls.is_some());
    let missing = Agent::from_vars(vars(&[
        ("NOMAD_ADDR", "https://10.0.0.1:5000"),
        ("NOMAD_CACERT", "/nonexistent/ca.pem"),
    ]));
    assert!(format!("{:#}", missing.unwrap_err()).contains("/nonexistent/ca.pem"));
    let half = Agent::from_vars(vars(&[
        ("NOMAD_ADDR", "https://10.0.0.1:5000"),
        ("NOMAD_SKIP_VERIFY", "1"),
        ("NOMAD_CLIENT_CERT", "/x.pem"),
    ]));
    assert!(half.is_err());
    assert!(Agent::from_vars(vars(&[("NOMAD_ADDR", "10.0.0.1:5000")])).is_err());
    let agent = Agent::from_vars(vars(&[
        ("NOMAD_REGION", "eu west"),
        ("NOMAD_NAMESPACE", "prod"),
    ]))
    .unwrap();
    assert_eq!(agent.namespace.as_deref(), Some("prod"));
    assert_eq!(agent.target("/v1/x"), "/v1/x?region=eu%20west");
    assert_eq!(agent.target("/v1/x?y=1"), "/v1/x?y=1&region=eu%20west");
    assert_eq!(
        Agent::from_vars(vars(&[])).unwrap().target("/v1/x"),
        "/v1/x"
    );
    assert_eq!(parse_bool("T"), Some(true));
    assert_eq!(parse_bool("no"), None);
}

#[test]
fn one_request_and_a_streamed_body() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    // The second chunk is sent only once the client has seen the pause: a state, not a time.
    let (go_on, go) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0];
        while !head.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .unwrap();
        go.recv().unwrap();
        conn.write_all(b"6\r\n world\r\n0\r\n\r\n").unwrap();
        String::from_utf8(head).unwrap()
    });
    let request = request("GET", "/v1/x?y=1", &[(TOKEN_HEADER, "t")], "").unwrap();
    let mut stream = Streaming::open(&host, request).unwrap();
    assert_eq!(stream.status, 200);
    assert_eq!(
        stream.next(Duration::from_secs(5)),
        Next::Data("hello".into())
    );
    assert_eq!(stream.next(Duration::from_millis(50)), Next::Idle);
    go_on.send(()).unwrap();
    assert_eq!(
        stream.next(Duration::from_secs(5)),
        Next::Data(" world".into())
    );
    assert_eq!(stream.next(Duration::from_secs(5)), Next::End);
    let head = server.join().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /v1/x?y=1 http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {host}\r\n")), "{head}");
    assert!(head.contains("x-nomad-token: t\r\n"), "{head}");
}
