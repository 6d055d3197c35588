//! TLS for the outgoing HTTP client: the CLI's (from Nomad's `NOMAD_*` environment) and
//! the agent's own, for calls between agents (from the `tls` block).
//!
//! Verification follows Nomad's Go `api` package and agent: `NOMAD_CACERT`/`NOMAD_CAPATH`
//! (else the system's roots) and the address's host, or `NOMAD_TLS_SERVER_NAME`, must match;
//! `NOMAD_SKIP_VERIFY` turns verification off. Between agents the peer must chain to
//! `ca_file`; with `verify_server_hostname` its certificate must also name the peer's role
//! (`server.<region>.nomad`, `client.<region>.nomad`), otherwise the name is not checked.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};

/// How to speak TLS to one agent: the rustls configuration and the name to verify.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    /// The name the certificate must be valid for; `None`: the address's host.
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// What a CLI's TLS is made of (Nomad's `api.TLSConfig`).
#[derive(Debug, Default, Clone)]
pub struct TlsOptions<'a> {
    /// `NOMAD_CACERT`: a PEM file of CAs to trust.
    pub ca_cert: Option<&'a Path>,
    /// `NOMAD_CAPATH`: a directory of them.
    pub ca_path: Option<&'a Path>,
    /// `NOMAD_CLIENT_CERT`: the certificate to present.
    pub client_cert: Option<&'a Path>,
    /// `NOMAD_CLIENT_KEY`: its key.
    pub client_key: Option<&'a Path>,
    /// `NOMAD_TLS_SERVER_NAME`: the name to verify instead of the address's host.
    pub server_name: Option<&'a str>,
    /// `NOMAD_SKIP_VERIFY`: verify nothing.
    pub skip_verify: bool,
}

impl TlsClient {
    /// The CLI's TLS, as Nomad's `api` package builds it.
    pub fn new(options: &TlsOptions) -> Result<Self> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if options.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let roots = match (options.ca_cert, options.ca_path) {
                (None, None) => system_roots()?,
                (cert, path) => {
                    let mut roots = RootCertStore::empty();
                    if let Some(cert) = cert {
                        add_pem(&mut roots, cert)?;
                    }
                    if let Some(dir) = path {
                        let entries = std::fs::read_dir(dir)
                            .with_context(|| format!("NOMAD_CAPATH {}", dir.display()))?;
                        for entry in entries {
                            let path = entry?.path();
                            if path.is_file() {
                                add_pem(&mut roots, &path)?;
                            }
                        }
                    }
                    roots
                }
            };
            builder.with_root_certificates(roots)
        };
        let config = identity(builder, options.client_cert, options.client_key)?;
        let server_name = options
            .server_name
            .filter(|n| !n.is_empty())
            .map(|n| {
                ServerName::try_from(n.to_string())
                    .map_err(|_| anyhow!("NOMAD_TLS_SERVER_NAME {n:?} is not a host name"))
            })
            .transpose()?;
        Ok(Self::finish(config, server_name))
    }

    /// An agent's TLS towards another agent: the peer must chain to `ca_file`; with `role`
    /// (`verify_server_hostname`), its certificate must name it; this agent presents its
    /// own certificate.
    pub fn agent(ca_file: &Path, cert: &Path, key: &Path, role: Option<&str>) -> Result<Self> {
        let provider = provider();
        let mut roots = RootCertStore::empty();
        add_pem(&mut roots, ca_file)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| anyhow!("ca_file {}: {e}", ca_file.display()))?;
        let builder =
            ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        let (builder, server_name) = match role {
            Some(role) => (
                builder.with_webpki_verifier(webpki),
                Some(ServerName::try_from(role.to_string())?),
            ),
            None => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki))),
                None,
            ),
        };
        let config = identity(builder, Some(cert), Some(key))?;
        Ok(Self::finish(config, server_name))
    }

    fn finish(mut config: ClientConfig, server_name: Option<ServerName<'static>>) -> Self {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            config: Arc::new(config),
            server_name,
        }
    }

    /// The TLS handshake over `stream` to `host` (`name:port`).
    pub(super) async fn connect(
        &self,
        host: &str,
        stream: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host_name(host).to_string())
                .map_err(|_| anyhow!("{host}: no host name to verify"))?,
        };
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, stream)
            .await
            .with_context(|| format!("TLS handshake with {host} failed"))
    }
}

/// The host of `host:port` (brackets of an IPv6 address removed).
fn host_name(host: &str) -> &str {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    name.trim_start_matches('[').trim_end_matches(']')
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn identity(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<ClientConfig> {
    Ok(match (cert, key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("client certificate {}: {e}", cert.display()))?;
            if certs.is_empty() {
                bail!(
                    "client certificate {}: no PEM certificate in it",
                    cert.display()
                );
            }
            let private = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow!("client key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, private)
                .with_context(|| format!("client certificate {} with its key", cert.display()))?
        }
        _ => bail!("a client certificate needs both the certificate and its key"),
    })
}

fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<()> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "CA certificate {}: no PEM certificate in it",
            path.display()
        );
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The system's CA bundle (`SSL_CERT_FILE`, else the usual places).
fn system_roots() -> Result<RootCertStore> {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(std::path::PathBuf::from),
        );
    let mut roots = RootCertStore::empty();
    for path in candidates {
        if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
            let (_, _) = roots.add_parsable_certificates(iter.flatten());
            if !roots.is_empty() {
                return Ok(roots);
            }
        }
    }
    bail!("https needs a CA: set NOMAD_CACERT (no system CA bundle found)")
}

/// `NOMAD_SKIP_VERIFY`: any certificate is accepted (signatures are still checked).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Between agents without `verify_server_hostname`: the chain to the CA is checked, the
/// name is not (Nomad's behaviour).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A certificate's identity as server mode pins it: the SHA-256 of its DER, lowercase hex.
pub fn certificate_sha256(cert: &CertificateDer<'_>) -> String {
    crate::util::hex(&Sha256::digest(cert.as_ref()))
}

#[cfg(test)]
mod tests;
