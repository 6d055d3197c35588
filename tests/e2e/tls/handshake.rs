//! The handshake: https with the CA works, plain HTTP gets no answer, and mutual TLS
//! refuses clients without a certificate from the CA.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::support::PATIENCE;

use super::{Ca, client_config, get, served_cert, server_leaf, start, status_line};

#[test]
fn https_with_the_ca_works_and_plain_http_gets_no_answer() {
    let ca = Ca::new("caravan test CA");
    let leaf = server_leaf(&ca);
    let setup = start(&ca, &leaf, "");
    let addr = &setup.agent.addr;
    let raw = get(addr, client_config(&ca, None), "/v1/client/metadata").unwrap();
    assert_eq!(status_line(&raw), "HTTP/1.1 200 OK");
    assert_eq!(served_cert(addr, client_config(&ca, None)), Some(leaf.der));

    // Plain HTTP on the TLS port: no HTTP answer, only the end of the connection.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.set_read_timeout(Some(PATIENCE)).unwrap();
    plain
        .write_all(b"GET /v1/client/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");

    // A client that does not trust this CA refuses the server.
    let other = Ca::new("another CA");
    assert!(get(addr, client_config(&other, None), "/v1/client/metadata").is_err());
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let ca = Ca::new("caravan test CA");
    let setup = start(&ca, &server_leaf(&ca), "  verify_https_client = true\n");
    let addr = &setup.agent.addr;
    let client = ca.issue(&["client.global.nomad"]);
    let raw = get(
        addr,
        client_config(&ca, Some(&client)),
        "/v1/client/metadata",
    )
    .unwrap();
    assert_eq!(status_line(&raw), "HTTP/1.1 200 OK");

    let other = Ca::new("another CA");
    let stranger = other.issue(&["client.global.nomad"]);
    for (who, config) in [
        ("no certificate", client_config(&ca, None)),
        ("another CA's", client_config(&ca, Some(&stranger))),
    ] {
        match get(addr, config, "/v1/client/metadata") {
            Err(_) => {}
            Ok(raw) => assert!(raw.is_empty(), "{who}: {}", String::from_utf8_lossy(&raw)),
        }
    }
}
