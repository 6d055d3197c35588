//! The one HTTP client every outgoing call uses: the CLI, the heartbeat, server-mode
//! forwarding, the end-to-end tests and the benchmarks. It is hyper's HTTP/1.1 client
//! connection; async callers use [`Connection`] and [`send`], sync callers the blocking
//! wrappers ([`block_on`], [`Agent`], [`Streaming`]), which run on a small runtime of their
//! own. Connections are plain or TLS ([`TlsClient`]). An agent is addressed and
//! authenticated the way Nomad's CLI does it: `NOMAD_ADDR` (default `http://127.0.0.1:4646`,
//! or `https://…`), `NOMAD_CACERT`, `NOMAD_CAPATH`, `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY`,
//! `NOMAD_TLS_SERVER_NAME`, `NOMAD_SKIP_VERIFY`, and `NOMAD_TOKEN`, sent as `X-Nomad-Token`.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, HOST, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

mod tls;

pub use tls::{TlsClient, TlsOptions, certificate_sha256};

/// Nomad's default address.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:4646";
/// The header Nomad reads a token from.
pub const TOKEN_HEADER: &str = "X-Nomad-Token";
/// How long connecting may take before the agent counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One keep-alive HTTP/1.1 connection to `host:port`.
pub struct Connection {
    host: String,
    sender: SendRequest<Full<Bytes>>,
    /// Over TLS, the SHA-256 (hex) of the certificate the peer presented.
    peer_certificate: Option<String>,
}

impl Connection {
    /// Connect and handshake; the connection is driven by a task on the current runtime
    /// and closes when this is dropped (after any response still being read).
    pub async fn open(host: &str) -> Result<Self> {
        Self::open_with(host, None).await
    }

    /// [`Connection::open`], over TLS when `tls` is given.
    pub async fn open_with(host: &str, tls: Option<&TlsClient>) -> Result<Self> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(host))
            .await
            .with_context(|| format!("timed out connecting to {host}"))?
            .with_context(|| format!("failed to connect to {host}"))?;
        stream.set_nodelay(true)?;
        let mut peer_certificate = None;
        let sender = match tls {
            None => {
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .with_context(|| format!("failed to talk HTTP to {host}"))?;
                tokio::spawn(connection.with_upgrades());
                sender
            }
            Some(tls) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(host, stream))
                    .await
                    .with_context(|| format!("timed out in the TLS handshake with {host}"))??;
                peer_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(certificate_sha256);
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .with_context(|| format!("failed to talk HTTP to {host}"))?;
                tokio::spawn(connection.with_upgrades());
                sender
            }
        };
        Ok(Self {
            host: host.to_string(),
            sender,
            peer_certificate,
        })
    }

    /// Over TLS, the SHA-256 (hex) of the certificate the peer presented.
    pub fn peer_certificate(&self) -> Option<&str> {
        self.peer_certificate.as_deref()
    }

    /// Ready for a request now: open, and done with every earlier answer.
    pub fn is_free(&self) -> bool {
        self.sender.is_ready()
    }

    /// The peer or an error closed it: it will carry nothing more.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Send one request (with a `Host` header unless it has one) and return the response
    /// as soon as its head arrives; the body streams.
    pub async fn send(&mut self, mut request: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, self.host.parse()?);
        }
        self.sender
            .ready()
            .await
            .with_context(|| format!("the connection to {} closed", self.host))?;
        self.sender
            .send_request(request)
            .await
            .with_context(|| format!("no answer from {}", self.host))
    }

    /// Send one request and read its whole answer.
    pub async fn fetch(&mut self, request: Request<Full<Bytes>>) -> Result<Reply> {
        Reply::read(self.send(request).await?).await
    }
}

/// Send one request on a connection of its own (`Connection: close`, so the agent lets go
/// of it as soon as it has answered).
pub async fn send(host: &str, request: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
    send_with(host, None, request).await
}

/// [`send`], over TLS when `tls` is given.
pub async fn send_with(
    host: &str,
    tls: Option<&TlsClient>,
    mut request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>> {
    if !request.headers().contains_key(CONNECTION) {
        request
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Connection::open_with(host, tls).await?.send(request).await
}

/// Send one request on a connection of its own and read its whole answer.
pub async fn fetch(host: &str, request: Request<Full<Bytes>>) -> Result<Reply> {
    fetch_with(host, None, request).await
}

/// [`fetch`], over TLS when `tls` is given.
pub async fn fetch_with(
    host: &str,
    tls: Option<&TlsClient>,
    request: Request<Full<Bytes>>,
) -> Result<Reply> {
    Reply::read(send_with(host, tls, request).await?).await
}

/// A request to send: `target` is the path and query; `headers` are added as given.
pub fn request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder().method(method).uri(target);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .with_context(|| format!("cannot send {method} {target}"))
}

/// A response read to its end.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// Read `response`'s body to its end.
    pub async fn read(response: Response<Incoming>) -> Result<Self> {
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("the answer was cut short")?
            .to_bytes();
        Ok(Self {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The runtime the blocking wrappers run on: one worker, so connections (and streamed
/// bodies) keep moving between the caller's reads.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("http-client")
        .enable_all()
        .build()
        .expect("failed to start the HTTP client's runtime")
});

/// Run `future` to completion from synchronous code (never from inside a runtime).
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.block_on(future)
}

/// `NOMAD_TOKEN`, if set.
pub fn env_token() -> Option<String> {
    std::env::var("NOMAD_TOKEN").ok()
}

/// An agent as Nomad's CLI finds it: `NOMAD_ADDR`, the TLS variables, `NOMAD_TOKEN`,
/// `NOMAD_NAMESPACE` and `NOMAD_REGION`.
#[derive(Debug, Clone)]
pub struct Agent {
    /// `host:port`.
    pub host: String,
    /// Set when `NOMAD_ADDR` is `https://…`.
    pub tls: Option<TlsClient>,
    /// `NOMAD_TOKEN`, sent as `X-Nomad-Token`.
    pub token: Option<String>,
    /// Where allocations are looked up by prefix (`None`: every namespace).
    pub namespace: Option<String>,
    /// Sent as `region=` with each request, as Nomad's API client does.
    pub region: Option<String>,
}

impl Agent {
    /// The agent at `NOMAD_ADDR` (default [`DEFAULT_ADDR`]), with TLS from `NOMAD_CACERT`,
    /// `NOMAD_CAPATH`, `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY`, `NOMAD_TLS_SERVER_NAME` and
    /// `NOMAD_SKIP_VERIFY` when the address is https, and `NOMAD_TOKEN` if set.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The agent that these variables (Nomad's `NOMAD_*` names) describe; the CLI's global
    /// flags come in this way, over the environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let addr = var("NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr.trim();
        let (host, https) = if let Some(host) = addr.strip_prefix("http://") {
            (host, false)
        } else if let Some(host) = addr.strip_prefix("https://") {
            (host, true)
        } else {
            bail!(
                "the address (-address or NOMAD_ADDR) must be http:// or https:// (got {addr:?})"
            );
        };
        let host = host.trim_end_matches('/').to_string();
        let tls = if https {
            let path = |name: &str| var(name).map(std::path::PathBuf::from);
            let (ca_cert, ca_path) = (path("NOMAD_CACERT"), path("NOMAD_CAPATH"));
            let (client_cert, client_key) = (path("NOMAD_CLIENT_CERT"), path("NOMAD_CLIENT_KEY"));
            let server_name = var("NOMAD_TLS_SERVER_NAME");
            let options = TlsOptions {
                ca_cert: ca_cert.as_deref(),
                ca_path: ca_path.as_deref(),
                client_cert: client_cert.as_deref(),
                client_key: client_key.as_deref(),
                server_name: server_name.as_deref(),
                skip_verify: var("NOMAD_SKIP_VERIFY")
                    .and_then(|v| parse_bool(&v))
                    .unwrap_or(false),
            };
            Some(TlsClient::new(&options).context("the address is https")?)
        } else {
            None
        };
        Ok(Self {
            host,
            tls,
            token: var("NOMAD_TOKEN").map(|t| t.trim().to_string()),
            namespace: var("NOMAD_NAMESPACE").map(|n| n.trim().to_string()),
            region: var("NOMAD_REGION").map(|r| r.trim().to_string()),
        })
    }

    /// `path` (with or without a query) as sent to this agent: with `region=` when set.
    pub fn target(&self, path: &str) -> String {
        match &self.region {
            None => path.to_string(),
            Some(region) => {
                let join = if path.contains('?') { '&' } else { '?' };
                let region: String = url_encode(region);
                format!("{path}{join}region={region}")
            }
        }
    }

    /// Send `request` on a connection of its own and return the response's head.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
        send_with(&self.host, self.tls.as_ref(), request).await
    }

    /// Send `method path` with `body` and read the whole answer (blocking).
    pub fn call(&self, method: &str, path: &str, body: impl Into<Bytes>) -> Result<Reply> {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push((TOKEN_HEADER, token.as_str()));
        }
        let request = request(method, &self.target(path), &headers, body)?;
        block_on(async {
            tokio::time::timeout(Duration::from_secs(60), async {
                Reply::read(self.send(request).await?).await
            })
            .await
            .with_context(|| format!("no answer from {} within 60s", self.host))?
        })
    }
}

/// A query value percent-encoded (unreserved characters stay).
fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Go's `strconv.ParseBool`, which Nomad uses for `NOMAD_SKIP_VERIFY`.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A response whose body is read piece by piece from synchronous code, as it arrives.
pub struct Streaming {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    body: Incoming,
}

/// What [`Streaming::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// More of the body.
    Data(Bytes),
    /// Nothing arrived in time; the body may go on.
    Idle,
    /// The body ended (or the connection failed).
    End,
}

impl Streaming {
    /// Send `request` to `host` and wait for the response's head (blocking).
    pub fn open(host: &str, request: Request<Full<Bytes>>) -> Result<Self> {
        Self::open_with(host, None, request)
    }

    /// [`Streaming::open`], over TLS when `tls` is given.
    pub fn open_with(
        host: &str,
        tls: Option<&TlsClient>,
        request: Request<Full<Bytes>>,
    ) -> Result<Self> {
        let response = block_on(send_with(host, tls, request))?;
        let (parts, body) = response.into_parts();
        Ok(Self {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Wait up to `timeout` for the next piece of the body.
    pub fn next(&mut self, timeout: Duration) -> Next {
        loop {
            let frame = block_on(async { tokio::time::timeout(timeout, self.body.frame()).await });
            return match frame {
                Err(_) => Next::Idle,
                Ok(None) | Ok(Some(Err(_))) => Next::End,
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Next::Data(data),
                    // Trailers: nothing a caller reads.
                    Err(_) => continue,
                },
            };
        }
    }
}

#[cfg(test)]
mod tests;
