//! The one HTTP client every outgoing call uses: the CLI, the heartbeat, server-mode
//! forwarding, the end-to-end tests and the benchmarks. It is hyper's HTTP/1.1 client
//! connection; async callers use [`Connection`] and [`send`], sync callers the blocking
//! wrappers ([`block_on`], [`Agent`], [`Streaming`]), which run on a small runtime of their
//! own. An agent is addressed and authenticated the way Nomad's CLI does it: `NOMAD_ADDR`
//! (default `http://127.0.0.1:4646`) and `NOMAD_TOKEN`, sent as `X-Nomad-Token`.

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
}

impl Connection {
    /// Connect and handshake; the connection is driven by a task on the current runtime
    /// and closes when this is dropped (after any response still being read).
    pub async fn open(host: &str) -> Result<Self> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(host))
            .await
            .with_context(|| format!("timed out connecting to {host}"))?
            .with_context(|| format!("failed to connect to {host}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("failed to talk HTTP to {host}"))?;
        tokio::spawn(connection);
        Ok(Self {
            host: host.to_string(),
            sender,
        })
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
pub async fn send(host: &str, mut request: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
    if !request.headers().contains_key(CONNECTION) {
        request
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Connection::open(host).await?.send(request).await
}

/// Send one request on a connection of its own and read its whole answer.
pub async fn fetch(host: &str, request: Request<Full<Bytes>>) -> Result<Reply> {
    Reply::read(send(host, request).await?).await
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
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    async fn read(response: Response<Incoming>) -> Result<Self> {
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

/// An agent as Nomad's CLI finds it: `NOMAD_ADDR` and `NOMAD_TOKEN`.
#[derive(Debug, Clone)]
pub struct Agent {
    /// `host:port`.
    pub host: String,
    pub token: Option<String>,
}

impl Agent {
    /// The agent at `NOMAD_ADDR` (default [`DEFAULT_ADDR`]), with `NOMAD_TOKEN` if set.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::var("NOMAD_ADDR").ok(), env_token())
    }

    fn from_vars(addr: Option<String>, token: Option<String>) -> Result<Self> {
        let addr = addr
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ADDR.into());
        let Some(host) = addr.trim().strip_prefix("http://") else {
            bail!("NOMAD_ADDR must be an http:// address (got {addr:?})");
        };
        Ok(Self {
            host: host.trim_end_matches('/').to_string(),
            token: token
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        })
    }

    /// Send `method path` with `body` and read the whole answer (blocking).
    pub fn call(&self, method: &str, path: &str, body: impl Into<Bytes>) -> Result<Reply> {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push((TOKEN_HEADER, token.as_str()));
        }
        let request = request(method, path, &headers, body)?;
        block_on(async {
            tokio::time::timeout(Duration::from_secs(60), fetch(&self.host, request))
                .await
                .with_context(|| format!("no answer from {} within 60s", self.host))?
        })
    }
}

/// A response whose body is read piece by piece from synchronous code, as it arrives.
pub struct Streaming {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
}

/// What [`Streaming::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Data(Bytes),
    /// Nothing arrived in time; the body may go on.
    Idle,
    /// The body ended (or the connection failed).
    End,
}

impl Streaming {
    /// Send `request` to `host` and wait for the response's head (blocking).
    pub fn open(host: &str, request: Request<Full<Bytes>>) -> Result<Self> {
        let response = block_on(send(host, request))?;
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
mod tests {
    use super::*;

    #[test]
    fn the_agent_comes_from_nomads_variables() {
        let agent = Agent::from_vars(None, None).unwrap();
        assert_eq!(agent.host, "127.0.0.1:4646");
        assert_eq!(agent.token, None);
        let agent = Agent::from_vars(
            Some("http://10.0.0.1:5000/".into()),
            Some(" s3cret\n".into()),
        )
        .unwrap();
        assert_eq!(agent.host, "10.0.0.1:5000");
        assert_eq!(agent.token.as_deref(), Some("s3cret"));
        assert!(Agent::from_vars(Some("https://10.0.0.1:5000".into()), None).is_err());
    }

    #[test]
    fn one_request_and_a_streamed_body() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
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
            std::thread::sleep(Duration::from_millis(300));
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
}
