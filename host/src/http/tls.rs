//! TLS on the HTTP API: the server configuration built from PEM files, the per-connection
//! handshake (under Nomad's `https_handshake_timeout`), and reloads on SIGHUP and when the
//! files change. A reload swaps the configuration new handshakes use; connections already
//! open keep theirs, so nothing is dropped. A reload that fails keeps the configuration in
//! use and logs why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::http_client::certificate_sha256;

/// File events closer together than this are one change (a cert and key written together).
const SETTLE: Duration = Duration::from_millis(100);

/// What the `tls` block asks of the HTTP server.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The CA client certificates must chain to; required with `verify_clients`.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: a client without a certificate signed by `ca_file` fails the handshake.
    pub verify_clients: bool,
    /// Offer TLS 1.3 only.
    pub tls13_only: bool,
    /// How long a client has to finish the handshake; `None`: no limit.
    pub handshake_timeout: Option<Duration>,
}

/// The TLS side of the HTTP server.
pub struct Tls {
    settings: TlsSettings,
    config: ArcSwap<ServerConfig>,
}

impl Tls {
    /// Build the configuration from the files; any problem is an error (the agent refuses
    /// to start rather than serve without the TLS it was asked for).
    pub fn new(settings: TlsSettings) -> Result<Arc<Self>> {
        let (config, fingerprint) = build(&settings)?;
        tracing::info!(
            "TLS on the HTTP API: certificate {} (sha256 {fingerprint}){}",
            settings.cert_file.display(),
            if settings.verify_clients {
                ", client certificates required"
            } else {
                ""
            }
        );
        Ok(Arc::new(Self {
            settings,
            config: ArcSwap::from_pointee(config),
        }))
    }

    /// Re-read the files; on success new handshakes use them, on failure nothing changes.
    pub fn reload(&self, why: &str) {
        match build(&self.settings) {
            Ok((config, fingerprint)) => {
                self.config.store(Arc::new(config));
                tracing::info!(
                    "TLS reload ({why}): serving certificate {} (sha256 {fingerprint})",
                    self.settings.cert_file.display()
                );
            }
            Err(err) => {
                tracing::warn!("TLS reload ({why}) failed, keeping the certificate in use: {err:#}")
            }
        }
    }

    /// The TLS handshake of one connection, with the configuration current now.
    pub async fn handshake(&self, stream: TcpStream) -> Result<TlsStream<TcpStream>> {
        let accept = TlsAcceptor::from(self.config.load_full()).accept(stream);
        match self.settings.handshake_timeout {
            None => Ok(accept.await?),
            Some(limit) => match tokio::time::timeout(limit, accept).await {
                Ok(stream) => Ok(stream?),
                Err(_) => bail!("TLS handshake not finished within {limit:?}"),
            },
        }
    }

    /// With mutual TLS, who the peer is, for the headers the core reads: which of Nomad's
    /// roles (`server`, `client`, `cli` `.global.nomad`) its verified certificate names,
    /// and that certificate's SHA-256. `None` without mutual TLS.
    pub fn peer_identity(&self, stream: &TlsStream<TcpStream>) -> Option<PeerIdentity> {
        if !self.settings.verify_clients {
            return None;
        }
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first());
        Some(PeerIdentity {
            roles: cert.map(|c| roles_of(c).join(" ")).unwrap_or_default(),
            certificate_sha256: cert.map(certificate_sha256),
        })
    }

    /// Reload whenever the certificate, key or CA file changes.
    pub fn watch(self: &Arc<Self>) -> Result<notify::RecommendedWatcher> {
        let files = [
            Some(&self.settings.cert_file),
            Some(&self.settings.key_file),
            self.settings.ca_file.as_ref(),
        ];
        let files: Vec<&Path> = files.into_iter().flatten().map(PathBuf::as_path).collect();
        let tls = self.clone();
        crate::util::watch::watch_files(&files, SETTLE, "tls-watcher", move || {
            tls.reload("file change")
        })
    }
}

/// The server configuration the settings describe, and its certificate's SHA-256.
fn build(settings: &TlsSettings) -> Result<(ServerConfig, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&settings.cert_file)?;
    let fingerprint = certificate_sha256(&certs[0]);
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(|e| anyhow!("key_file {}: {e}", settings.key_file.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = if settings.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = if settings.verify_clients {
        let ca_file = settings
            .ca_file
            .as_ref()
            .context("verifying client certificates needs ca_file")?;
        builder.with_client_cert_verifier(client_verifier(ca_file, provider)?)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "cert_file {} with key_file {}",
            settings.cert_file.display(),
            settings.key_file.display()
        )
    })?;
    // The API is served over HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, fingerprint))
}

fn client_verifier(
    ca_file: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| anyhow!("ca_file {}: {e}", ca_file.display()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| anyhow!("ca_file {}: {e}", ca_file.display()))
}

/// Every certificate of a PEM file; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

/// Nomad's roles, region `global`, that `cert` is valid for.
pub fn roles_of(cert: &CertificateDer<'_>) -> Vec<&'static str> {
    const ROLES: [&str; 3] = [
        "server.global.nomad",
        "client.global.nomad",
        "cli.global.nomad",
    ];
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    ROLES
        .into_iter()
        .filter(|role| {
            rustls::pki_types::ServerName::try_from(*role)
                .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
        })
        .collect()
}

/// A mutual-TLS peer, as the core sees it (`x-caravan-peer-role`,
/// `x-caravan-peer-certificate`).
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// Nomad roles the certificate names, space-separated, possibly none.
    pub roles: String,
    /// The certificate's SHA-256, hex.
    pub certificate_sha256: Option<String>,
}
