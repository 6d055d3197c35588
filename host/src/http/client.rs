//! The client side of the CLI: one plain HTTP/1.1 request to an agent, addressed and
//! authenticated the way Nomad's CLI is (`NOMAD_ADDR`, `NOMAD_TOKEN`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Nomad's default address.
const DEFAULT_ADDR: &str = "http://127.0.0.1:4646";

/// Send `method path` with `body` to the agent; returns the status and body.
pub fn call(method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let addr = std::env::var("NOMAD_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.into());
    let Some(host) = addr.strip_prefix("http://") else {
        bail!("NOMAD_ADDR must be an http:// address (got {addr:?})");
    };
    call_at(host.trim_end_matches('/'), method, path, body)
}

/// Send `method path` with `body` to the agent at `host` (`host:port`).
pub fn call_at(host: &str, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("failed to connect to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Ok(token) = std::env::var("NOMAD_TOKEN") {
        head.push_str(&format!("X-Nomad-Token: {}\r\n", token.trim()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed response from the agent")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed status line from the agent")?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    out
}
