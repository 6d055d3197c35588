//! TLS on the HTTP API: https with the CA works, plain HTTP does not, mutual TLS refuses
//! clients without a good certificate during the handshake, and certificates reload (files
//! replaced, SIGHUP) without dropping open streams; a bad new certificate keeps the old one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{Agent, PATIENCE, wait_for, wait_log, wait_log_after, wait_until};

/// A throwaway certificate authority.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM and DER.
pub(crate) struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (Nomad's roles: `server.global.nomad`, `client.global.nomad`).
    pub(crate) fn issue(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

pub(crate) fn server_leaf(ca: &Ca) -> Leaf {
    ca.issue(&["server.global.nomad", "localhost", "127.0.0.1"])
}

/// Replace `path` atomically, as certificate tooling does.
fn replace(path: &Path, text: &str) {
    let temp = path.with_extension("new");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// A TLS agent: its certificate files in `<dir>/tls`, config in `<dir>/tls.hcl`.
pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    pub(crate) tls_dir: PathBuf,
    pub(crate) agent: Agent,
}

fn start(ca: &Ca, leaf: &Leaf, extra: &str) -> Setup {
    start_with(ca, leaf, extra, &[])
}

/// [`start`] with more agent flags.
pub(crate) fn start_with(ca: &Ca, leaf: &Leaf, extra: &str, flags: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    std::fs::write(tls_dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(tls_dir.join("server.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(tls_dir.join("server-key.pem"), &leaf.key_pem).unwrap();
    let config = dir.path().join("tls.hcl");
    let d = tls_dir.display();
    std::fs::write(
        &config,
        format!(
            "tls {{\n  http = true\n  ca_file = \"{d}/ca.pem\"\n  cert_file = \"{d}/server.pem\"\n  key_file = \"{d}/server-key.pem\"\n{extra}}}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut args = vec![format!("-config={}", config.display())];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let agent = Agent::start_in(&data, &args);
    Setup {
        _dir: dir,
        tls_dir,
        agent,
    }
}

fn client_config(ca: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.der.clone()],
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    })
}

/// A TLS connection to the agent, handshake done (or failed).
fn connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(PATIENCE))?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The certificate the agent presents to a new connection.
fn served_cert(addr: &str, config: Arc<ClientConfig>) -> Option<CertificateDer<'static>> {
    let stream = connect(addr, config).ok()?;
    Some(stream.conn.peer_certificates()?[0].clone().into_owned())
}

/// `GET target` over TLS: the whole raw answer, or the error that ended the connection.
fn get(addr: &str, config: Arc<ClientConfig>, target: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = connect(addr, config)?;
    stream.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

fn status_line(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

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

/// The data of a follow stream's frames so far (an HTTP/1.0 request: the body is the
/// frames, unchunked, until the connection ends).
fn frames_data(body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for frame in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
        let Ok(frame) = frame else { break };
        if let Some(text) = frame.get("Data").and_then(|d| d.as_str()) {
            data.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap(),
            );
        }
    }
    data
}

/// Requests on fresh TLS connections from two threads until [`Load::finish`]: each either
/// answers 200 or is kept as a failure, saying what went wrong.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(addr: &str, config: Arc<ClientConfig>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let threads = (0..2)
            .map(|_| {
                let (addr, config) = (addr.to_string(), config.clone());
                let (stop, answered) = (stop.clone(), answered.clone());
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        match get(&addr, config.clone(), "/v1/client/metadata") {
                            Ok(raw) if status_line(&raw) == "HTTP/1.1 200 OK" => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(raw) => failures.push(status_line(&raw)),
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    failures
                })
            })
            .collect();
        Self {
            stop,
            answered,
            threads,
        }
    }

    /// Wait until `more` requests beyond those answered so far have been answered, so the
    /// load is known to span whatever happened before this call.
    fn wait_for_more(&self, more: u64) {
        let target = self.answered.load(Ordering::Relaxed) + more;
        wait_until("the load to go on", || {
            self.answered.load(Ordering::Relaxed) >= target
        });
    }

    /// Stop: how many requests were answered, and every failure.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (self.answered.load(Ordering::Relaxed), failures)
    }
}

#[test]
fn certificates_reload_without_dropping_streams_and_a_bad_one_keeps_the_old() {
    let ca = Ca::new("caravan test CA");
    let first = server_leaf(&ca);
    let setup = start(&ca, &first, "");
    let agent = &setup.agent;
    let addr = &agent.addr;
    let config = client_config(&ca, None);

    // A follow stream, open before the swap.
    let file = agent.alloc_dir().join("alloc/data/followed.log");
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("before\n");
    let mut stream = connect(addr, config.clone()).unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/client/fs/stream/{}?path=alloc/data/followed.log&follow=true HTTP/1.0\r\n\r\n",
                agent.demo_alloc
            )
            .as_bytes(),
        )
        .unwrap();
    let mut raw = Vec::new();
    let read_until = |raw: &mut Vec<u8>, stream: &mut StreamOwned<_, _>, marker: &str| {
        wait_until(marker, || {
            let mut buf = [0u8; 16384];
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended");
            raw.extend_from_slice(&buf[..n]);
            let body = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&[][..], |p| &raw[p + 4..]);
            String::from_utf8_lossy(&frames_data(body)).contains(marker)
        })
    };
    read_until(&mut raw, &mut stream, "before");
    // New connections all the while: not one may fail across every swap below.
    let load = Load::start(addr, config.clone());
    load.wait_for_more(5);

    // New files on disk: new connections get the new certificate...
    let second = server_leaf(&ca);
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server-key.pem"), &second.key_pem);
    replace(&setup.tls_dir.join("server.pem"), &second.cert_pem);
    wait_for("the new certificate to be served", || {
        (served_cert(addr, config.clone())? == second.der).then_some(())
    });
    wait_log_after(agent, from, "TLS reload (file change): serving certificate");
    // ...and the stream opened before keeps flowing.
    append("after the swap\n");
    read_until(&mut raw, &mut stream, "after the swap");
    load.wait_for_more(5);

    // A bad certificate keeps the one in use, and says why.
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server.pem"), "not a certificate\n");
    wait_log_after(agent, from, "failed, keeping the certificate in use");
    assert_eq!(served_cert(addr, config.clone()), Some(second.der.clone()));
    let raw_get = get(addr, config.clone(), "/v1/client/metadata").unwrap();
    assert_eq!(status_line(&raw_get), "HTTP/1.1 200 OK");
    // A certificate that does not match the key is refused too.
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server.pem"), &first.cert_pem);
    wait_log_after(agent, from, "failed, keeping the certificate in use");
    assert_eq!(served_cert(addr, config.clone()), Some(second.der.clone()));

    // SIGHUP reloads the certificates and the core alike.
    let third = server_leaf(&ca);
    replace(&setup.tls_dir.join("server-key.pem"), &third.key_pem);
    replace(&setup.tls_dir.join("server.pem"), &third.cert_pem);
    wait_for("the third certificate to be served", || {
        (served_cert(addr, config.clone())? == third.der).then_some(())
    });
    let from = agent.log().len();
    agent.signal(rustix::process::Signal::HUP);
    wait_log_after(agent, from, "TLS reload (SIGHUP): serving certificate");
    wait_log_after(agent, from, "re-checked (SIGHUP)");
    append("still here\n");
    read_until(&mut raw, &mut stream, "still here");
    load.wait_for_more(5);
    let (answered, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:?}",
        failures.len(),
        answered + failures.len() as u64
    );
    wait_log(agent, "TLS on the HTTP API");
}

#[test]
fn curl_speaks_mutual_tls_to_every_kind_of_endpoint() {
    let ca = Ca::new("caravan test CA");
    let setup = start(&ca, &server_leaf(&ca), "  verify_https_client = true\n");
    let agent = &setup.agent;
    let (cert, key) = write_leaf(&setup.tls_dir, "curl", &ca.issue(&["cli.global.nomad"]));
    let ca_file = setup.tls_dir.join("ca.pem");
    let curl = |identity: bool, target: &str| {
        let mut command = std::process::Command::new("curl");
        command.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"]);
        command.arg(&ca_file);
        if identity {
            command.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        let out = command
            .arg(format!("https://{}{target}", agent.addr))
            .output()
            .expect("curl (Debian's curl package) must be installed");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    };
    std::fs::write(agent.alloc_dir().join("alloc/data/curl.txt"), "over tls\n").unwrap();
    let alloc = &agent.demo_alloc;
    let (status, body) = curl(true, "/v1/client/metadata");
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("\"Meta\""), "{body}");
    for (target, expect) in [
        (
            format!("/v1/client/fs/cat/{alloc}?path=alloc/data/curl.txt"),
            "over tls\n".to_string(),
        ),
        (
            format!("/v1/client/fs/readat/{alloc}?path=alloc/data/curl.txt&offset=5&limit=3"),
            "tls".to_string(),
        ),
        (
            format!("/v1/client/fs/stream/{alloc}?path=alloc/data/curl.txt&follow=false"),
            r#"{"Data":"b3ZlciB0bHMK","File":"alloc/data/curl.txt","Offset":9}"#.to_string(),
        ),
    ] {
        assert_eq!(curl(true, &target), ("200".to_string(), expect), "{target}");
    }
    let (status, body) = curl(
        true,
        &format!("/v1/client/fs/stat/{alloc}?path=alloc/data/curl.txt"),
    );
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("\"Size\":9"), "{body}");
    let (status, body) = curl(true, "/v1/client/stats");
    assert_eq!(status, "200", "{body}");
    // Without a certificate: the handshake fails, no HTTP status at all.
    assert_eq!(curl(false, "/v1/client/metadata").0, "000");
}

/// Write `leaf` as `<dir>/<name>.pem` and `<dir>/<name>-key.pem`.
pub(crate) fn write_leaf(dir: &Path, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

/// Run `caravan args...` with Nomad's environment.
pub(crate) fn cli(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"));
    command.args(args);
    for name in [
        "NOMAD_ADDR",
        "NOMAD_CACERT",
        "NOMAD_CAPATH",
        "NOMAD_CLIENT_CERT",
        "NOMAD_CLIENT_KEY",
        "NOMAD_TLS_SERVER_NAME",
        "NOMAD_SKIP_VERIFY",
        "NOMAD_TOKEN",
        "NOMAD_NAMESPACE",
        "NOMAD_REGION",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn the_cli_speaks_mutual_tls_from_nomads_environment() {
    let ca = Ca::new("caravan test CA");
    let leaf = server_leaf(&ca);
    let setup = start_with(
        &ca,
        &leaf,
        "  verify_https_client = true\n",
        &["-acl-enabled"],
    );
    let addr = &setup.agent.addr;
    let (cert, key) = write_leaf(
        &setup.tls_dir,
        "cli",
        &ca.issue(&["cli.global.nomad", "localhost"]),
    );
    let port = addr.rsplit_once(':').unwrap().1;
    let base = vec![
        ("NOMAD_ADDR", format!("https://{addr}")),
        (
            "NOMAD_CACERT",
            setup.tls_dir.join("ca.pem").display().to_string(),
        ),
        ("NOMAD_CLIENT_CERT", cert.display().to_string()),
        ("NOMAD_CLIENT_KEY", key.display().to_string()),
    ];

    // acl bootstrap over mutual TLS; its token then reads the demo allocation.
    let out = cli(&["acl", "bootstrap"], &base);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("Secret ID"))
        .map(|l| l.trim_start_matches([' ', '=']).trim().to_string())
        .unwrap_or_else(|| panic!("no Secret ID in {text}"));
    let mut with_token = base.clone();
    with_token.push(("NOMAD_TOKEN", secret.clone()));
    let out = cli(&["node", "status", "-self"], &with_token);
    assert!(out.status.success(), "{out:?}");
    let out = cli(&["alloc", "status", &setup.agent.demo_alloc], &with_token);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&setup.agent.demo_alloc[..8]));

    // The name checked is the address's host unless NOMAD_TLS_SERVER_NAME says otherwise.
    let mut by_name = with_token.clone();
    by_name[0].1 = format!("https://localhost:{port}");
    assert!(cli(&["node", "status", "-self"], &by_name).status.success());
    by_name.push(("NOMAD_TLS_SERVER_NAME", "server.global.nomad".into()));
    assert!(cli(&["node", "status", "-self"], &by_name).status.success());
    let mut wrong_name = with_token.clone();
    wrong_name.push(("NOMAD_TLS_SERVER_NAME", "client.global.nomad".into()));
    assert!(
        !cli(&["node", "status", "-self"], &wrong_name)
            .status
            .success()
    );

    // Without the client certificate the handshake fails; plain http gets nothing.
    let out = cli(&["node", "status", "-self"], &with_token[..2]);
    assert!(!out.status.success(), "{out:?}");
    let mut plain = with_token.clone();
    plain[0].1 = format!("http://{addr}");
    assert!(!cli(&["node", "status", "-self"], &plain).status.success());

    // A CA the agent's certificate does not chain to: refused, unless NOMAD_SKIP_VERIFY.
    let other = Ca::new("another CA");
    let other_ca = setup.tls_dir.join("other-ca.pem");
    std::fs::write(&other_ca, other.pem()).unwrap();
    let mut untrusted = with_token.clone();
    untrusted[1].1 = other_ca.display().to_string();
    assert!(
        !cli(&["node", "status", "-self"], &untrusted)
            .status
            .success()
    );
    untrusted.push(("NOMAD_SKIP_VERIFY", "true".into()));
    let out = cli(&["node", "status", "-self"], &untrusted);
    assert!(out.status.success(), "{out:?}");
}

/// An agent with `tls { ... }` for `leaf` (mutual TLS, names checked between agents) in
/// `dir`, plus `hcl` and `flags`.
fn tls_agent(dir: &Path, ca: &Ca, leaf: &Leaf, hcl: &str, flags: &[&str]) -> Agent {
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
    std::fs::create_dir_all(srv_dir.join("data")).unwrap();
    crate::acl::write_acl_files(&srv_dir.join("data"));
    let srv = tls_agent(
        &srv_dir,
        &ca,
        &server_leaf(&ca),
        "",
        &["-server", "-node=server", "-acl-enabled"],
    );
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
