//! Connection limits: how many connections one client address may hold open (Nomad's
//! `limits { http_max_conns_per_client }`), and surviving file-descriptor exhaustion in
//! the accept loop.

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
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            reserve: open_reserve(),
            last_logged: None,
            suppressed: 0,
        }
    }

    /// The next connection. Never returns an error: on failure it backs off and retries.
    pub async fn accept(&mut self) -> (TcpStream, std::net::SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(conn) => return conn,
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
