//! TLS on the HTTP API: https with the CA works, plain HTTP does not, mutual TLS refuses
//! clients without a good certificate during the handshake, and certificates reload (files
//! replaced, SIGHUP) without dropping open streams; a bad new certificate keeps the old one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{Agent, PATIENCE};

mod clients;
mod handshake;
mod job_logs;
mod reload;
mod server_mode;

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
