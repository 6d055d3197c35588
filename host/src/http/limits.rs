//! Connection limits: how many connections one client address may hold open (Nomad's
//! `limits { http_max_conns_per_client }`), how slowly a request body may arrive (caravan's
//! `http_min_body_data_rate`), and surviving file-descriptor exhaustion in the accept loop.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::util::lock;

/// Nomad's words to a client over its connection limit.
const TOO_MANY_CONNS: &str =
    "Your IP is issuing too many concurrent connections, please rate limit your calls";

/// The whole answer written to such a client before its connection is closed.
pub fn too_many_conns() -> Vec<u8> {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{TOO_MANY_CONNS}",
        TOO_MANY_CONNS.len()
    )
    .into_bytes()
}

/// The per-address connection cap for an open-files limit: the configured one, but never
/// more than an eighth of the descriptors, so that a few addresses cannot hold them all
/// and shut out every other client (0, no cap, stays the operator's choice).
pub fn conns_per_client(configured: usize, open_files: u64) -> usize {
    let share = usize::try_from(open_files / 8).unwrap_or(usize::MAX).max(1);
    match configured {
        0 => 0,
        configured => configured.min(share),
    }
}

/// Open connections per client address.
#[derive(Default)]
pub struct PerClient {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    /// `max` connections per address; 0 means no limit (as in Nomad).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::default(),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it has `max` open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        let mut open = lock(&self.open);
        let count = open.entry(ip).or_default();
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ConnSlot {
            limits: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; freed on drop.
pub struct ConnSlot {
    limits: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.limits.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The slowest a request body may arrive: after `grace`, the bytes received must average at
/// least `bytes_per_second` since the body began (Kestrel's `MinRequestBodyDataRate`). A
/// body trickled a byte at a time would otherwise hold its connection, and a descriptor,
/// for the whole body timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinDataRate {
    /// The least average rate once `grace` has passed.
    pub bytes_per_second: u64,
    /// How long a body may take before the rate counts.
    pub grace: Duration,
}

impl MinDataRate {
    /// Kestrel's default: 240 B/s after 5 s.
    pub const DEFAULT: Self = Self {
        bytes_per_second: 240,
        grace: Duration::from_secs(5),
    };

    /// How long after its start a body that has sent `received` bytes may wait for more.
    fn allowance(&self, received: u64) -> Duration {
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_second as f64);
        earned.max(self.grace)
    }
}

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The connection broke mid-body, or the body's framing is wrong.
    Malformed,
    /// Not all there by the body timeout.
    TimedOut,
    /// Arriving below the minimum data rate after the grace.
    TooSlow,
}

/// Read a whole request body: at most `max` bytes, all of it within `timeout`, and (with a
/// `rate`) never falling below it once the grace has passed.
pub async fn read_body<B>(
    body: B,
    max: usize,
    timeout: Duration,
    rate: Option<MinDataRate>,
) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    use http_body_util::BodyExt;
    use tokio::time::Instant;
    let start = Instant::now();
    let timed_out = start + timeout;
    let mut body = body;
    let mut data = Vec::new();
    loop {
        let too_slow = rate.map(|rate| start + rate.allowance(data.len() as u64));
        let deadline = too_slow.map_or(timed_out, |at| at.min(timed_out));
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(frame) => frame,
            Err(_) if too_slow.is_some_and(|at| at < timed_out) => return Err(BodyError::TooSlow),
            Err(_) => return Err(BodyError::TimedOut),
        };
        let Some(frame) = frame else {
            return Ok(data);
        };
        let Ok(frame) = frame else {
            return Err(BodyError::Malformed);
        };
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > max {
                return Err(BodyError::TooLarge);
            }
            data.extend_from_slice(&chunk);
        }
    }
}

/// Accepting through file-descriptor exhaustion: a reserve descriptor is kept so that, when
/// the process runs out, one pending connection can still be accepted and closed (instead
/// of the kernel's queue filling and the loop spinning on `EMFILE`). Errors are logged at
/// most once a second.
pub struct Acceptor {
    listener: TcpListener,
    reserve: Option<File>,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl Acceptor {
    /// Accept from `listener`, with one descriptor held in reserve.
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            reserve: open_reserve(),
            last_logged: None,
            suppressed: 0,
        }
    }

    /// The next connection, with Nagle's algorithm off. Never returns an error: on failure
    /// it backs off and retries.
    ///
    /// Without `TCP_NODELAY` a response written in two parts (a head, then a small body, as
    /// every streamed body is) waits for the client's delayed ACK of the first part on a
    /// kept-alive connection: ~40 ms per small read. Go sets it on every connection, Nomad
    /// with it.
    pub async fn accept(&mut self) -> (TcpStream, std::net::SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!("TCP_NODELAY on the connection from {peer}: {err}");
                    }
                    return (stream, peer);
                }
                Err(err) => {
                    let exhausted = matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    if exhausted {
                        self.shed_one().await;
                    }
                    self.log(&err, exhausted);
                    tokio::time::sleep(Duration::from_millis(if exhausted { 10 } else { 50 }))
                        .await;
                }
            }
        }
    }

    /// Out of descriptors: free the reserve, accept one waiting connection and close it at
    /// once, then take the reserve back. The client sees its connection closed rather than
    /// hanging in the backlog.
    async fn shed_one(&mut self) {
        if self.reserve.take().is_none() {
            return;
        }
        if let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_millis(1), self.listener.accept()).await
        {
            drop(stream);
        }
        self.reserve = open_reserve();
    }

    fn log(&mut self, err: &io::Error, exhausted: bool) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        let also = match std::mem::take(&mut self.suppressed) {
            0 => String::new(),
            n => format!(" ({n} more since the last report)"),
        };
        if exhausted {
            tracing::warn!(
                "accept failed: {err}: out of file descriptors, closing new connections until some are freed{also}"
            );
        } else {
            tracing::warn!("accept failed: {err}{also}");
        }
        self.last_logged = Some(now);
    }
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

#[cfg(test)]
mod tests;
