//! Server mode over mutual TLS: a client registers with its certificate and node token, the
//! server forwards to it checking its certificate, and a node stays bound to the
//! certificate it registered with.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::StreamOwned;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use crate::support::{Agent, PATIENCE, wait_log, wait_until};

use super::{Ca, Leaf, server_leaf, write_leaf};

/// A server over mutual TLS with ACLs on, holding the e2e ACL files (its management token
/// is `secret-management`).
pub(super) fn acl_server(dir: &Path, ca: &Ca) -> Agent {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    crate::acl::write_acl_files(&dir.join("data"));
    tls_agent(
        dir,
        ca,
        &server_leaf(ca),
        "",
        &["-server", "-node=server", "-acl-enabled"],
    )
}

/// An agent with `tls { ... }` for `leaf` (mutual TLS, names checked between agents) in
/// `dir`, plus `hcl` and `flags`.
pub(super) fn tls_agent(dir: &Path, ca: &Ca, leaf: &Leaf, hcl: &str, flags: &[&str]) -> Agent {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let (cert, key) = write_leaf(dir, "agent", leaf);
    let config = dir.join("agent.hcl");
    std::fs::write(
        &config,
        format!(
            "tls {{\n  http = true\n  ca_file = \"{}\"\n  cert_file = \"{}\"\n  key_file = \"{}\"\n  verify_https_client = true\n  verify_server_hostname = true\n}}\n{hcl}",
            dir.join("ca.pem").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut args = vec![format!("-config={}", config.display())];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Agent::spawn(&dir.join("data"), &args)
}

/// An https request with caravan's client, presenting `identity` (a cert and key file).
fn call(
    addr: &str,
    ca: &Path,
    identity: Option<&(PathBuf, PathBuf)>,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), String> {
    use caravan::http_client::{self, TlsClient, TlsOptions};
    let tls = TlsClient::new(&TlsOptions {
        ca_cert: Some(ca),
        client_cert: identity.map(|i| i.0.as_path()),
        client_key: identity.map(|i| i.1.as_path()),
        ..TlsOptions::default()
    })
    .unwrap();
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Nomad-Token", t)).into_iter().collect();
    let request = http_client::request(method, target, &headers, body.to_vec()).unwrap();
    http_client::block_on(async {
        tokio::time::timeout(PATIENCE, http_client::fetch_with(addr, Some(&tls), request)).await
    })
    .map_err(|_| "timed out".to_string())?
    .map(|r| {
        (
            r.status.as_u16(),
            String::from_utf8_lossy(&r.body).into_owned(),
        )
    })
    .map_err(|e| format!("{e:#}"))
}

#[test]
fn server_mode_over_mutual_tls_with_an_agent_token() {
    use crate::cluster::{Recorder, claim};
    let temp = tempfile::tempdir().unwrap();
    let ca = Ca::new("caravan cluster CA");
    let srv_dir = temp.path().join("srv");
    let srv = acl_server(&srv_dir, &ca);
    let client_leaf = ca.issue(&["client.global.nomad", "localhost", "127.0.0.1"]);
    let c1 = tls_agent(
        &temp.path().join("c1"),
        &ca,
        &client_leaf,
        "client {\n  node_token = \"secret-node-write\"\n}\n",
        &["-node=c1", &format!("-servers={}", srv.addr)],
    );
    let ca_file = srv_dir.join("ca.pem");
    let cli = write_leaf(temp.path(), "cli", &ca.issue(&["cli.global.nomad"]));
    let as_client = write_leaf(temp.path(), "client", &client_leaf);
    let get = |target: &str| {
        call(
            &srv.addr,
            &ca_file,
            Some(&cli),
            "GET",
            target,
            Some("secret-node-read"),
            b"",
        )
    };

    // The heartbeat registers over https with its certificate and its node_token.
    wait_until("c1 to register over mutual TLS", || {
        get("/v1/nodes").is_ok_and(|(status, body)| status == 200 && body.contains(&c1.node_id))
    });
    // The server forwards to c1 over https, checking c1's certificate.
    let metadata = format!("/v1/client/metadata?node_id={}", c1.node_id);
    let (status, body) = get(&metadata).unwrap();
    assert_eq!(status, 200, "{body}");

    // Registration needs a client.global.nomad certificate and a node:write token.
    let rogue = Recorder::start();
    let register = caravan_core::router::REGISTER_PATH;
    let stolen = claim(
        &c1.node_id,
        &rogue.addr,
        "00000000-0000-4000-8000-000000000001",
    );
    let new_node = claim("c0c0c0c0-0000-4000-8000-00000000beef", &rogue.addr, "x");
    let post = |identity, token, body: &[u8]| {
        call(&srv.addr, &ca_file, identity, "POST", register, token, body)
    };
    let (status, body) = post(Some(&cli), Some("secret-node-write"), &new_node).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("client.global.nomad"), "{body}");
    assert_eq!(post(Some(&as_client), None, &new_node).unwrap().0, 403);
    assert_eq!(
        post(Some(&as_client), Some("secret-node-read"), &new_node)
            .unwrap()
            .0,
        403
    );
    assert!(
        post(None, Some("secret-node-write"), &new_node).is_err(),
        "no certificate, no handshake"
    );
    // With the right certificate and token, a live node's id is still not for the taking.
    let (status, body) = post(Some(&as_client), Some("secret-node-write"), &stolen).unwrap();
    assert_eq!(status, 409, "{body}");
    for _ in 0..3 {
        assert_eq!(get(&metadata).unwrap().0, 200);
    }
    assert_eq!(rogue.reached(), (0, Vec::new()));

    // A node is bound to the certificate it registered with: registered with c1's
    // certificate but pointing at a listener holding another valid client certificate, it
    // gets nothing forwarded (not a byte, so no token), though that certificate would pass
    // the CA and role checks.
    let elsewhere = TlsRecorder::start(&ca.issue(&["client.global.nomad", "127.0.0.1"]));
    let node = "c0c0c0c0-0000-4000-8000-00000000beef";
    let pointing_elsewhere = claim(
        node,
        &elsewhere.addr,
        "00000000-0000-4000-8000-000000000002",
    );
    let (status, body) = post(
        Some(&as_client),
        Some("secret-node-write"),
        &pointing_elsewhere,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&format!("/v1/client/metadata?node_id={node}")).unwrap();
    assert_ne!(status, 200, "{body}");
    wait_log(
        &srv,
        "presented another certificate than the one it registered with",
    );
    let (handshakes, received) = elsewhere.reached();
    assert!(handshakes >= 1, "the server never even tried the address");
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

/// A TLS listener with a certificate of its own: counts connections and records every
/// byte of application data that reaches it.
struct TlsRecorder {
    addr: String,
    seen: Arc<std::sync::Mutex<Vec<u8>>>,
    connections: Arc<AtomicU64>,
}

impl TlsRecorder {
    fn start(leaf: &Leaf) -> Self {
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der.clone()],
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicU64::new(0));
        let (sink, count) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (sink, config) = (sink.clone(), config.clone());
                std::thread::spawn(move || {
                    let tls = rustls::ServerConnection::new(config).unwrap();
                    let mut stream = StreamOwned::new(tls, conn);
                    let mut buf = [0; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
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

    /// How many connections reached it, and all the application data they sent.
    fn reached(&self) -> (u64, Vec<u8>) {
        (
            self.connections.load(Ordering::SeqCst),
            self.seen.lock().unwrap().clone(),
        )
    }
}
