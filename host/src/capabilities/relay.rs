//! `relay`: a server's reads from its client nodes, for an answer the core merges itself
//! (a job's logs, `core/src/fs/stream/job.rs`). Each relay is a GET on a connection of its
//! own to the node's registered address, made as a forwarded request is (the agents' TLS,
//! the node's pinned certificate, `x-caravan-forwarded: 1`) with the caller's token; a task
//! reads the answer into an inbox the core empties with `take`, and wakes the stream. The
//! inbox is bounded: a node sending faster than the stream is pulled waits (the
//! connection's own backpressure). The relays of a store end with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use tokio::sync::Notify;
use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::http_client::{Connection, TOKEN_HEADER, TlsClient};
use crate::registry::FORWARDED_HEADER;
use crate::wit::relay;

/// Most relays one stream may hold open.
const MAX_PER_STREAM: usize = 64;
/// Bytes kept for the core before the node is read further.
const INBOX_BYTES: usize = 1 << 20;
/// The most of a refusal's body kept.
const REFUSAL_BYTES: usize = 4096;

/// The relays of one store.
#[derive(Default)]
pub struct Relays {
    next: u32,
    open: HashMap<u32, Relay>,
}

struct Relay {
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Inbox {
    state: Mutex<Held>,
    /// Woken when the core took data, so the reader may go on.
    room: Notify,
}

#[derive(Default)]
struct Held {
    data: Vec<u8>,
    outcome: Option<relay::Arrived>,
}

impl relay::Host for CoreState {
    fn open(
        &mut self,
        node_id: String,
        target: String,
        token: Option<String>,
    ) -> Result<u32, String> {
        if self.relays.open.len() >= MAX_PER_STREAM {
            return Err(format!("more than {MAX_PER_STREAM} nodes at once"));
        }
        let Some(node) = self.ctx.cluster.nodes.node(&node_id) else {
            return Err("no such node".into());
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "this host cannot relay".to_string())?;
        let get = Get {
            addr: node.record.http_addr,
            pin: node.certificate,
            tls: self.ctx.cluster.relay_tls.clone(),
            target,
            token,
        };
        let inbox = Arc::new(Inbox::default());
        let task = runtime.spawn(read(get, inbox.clone(), self.waker.clone()));
        let id = self.relays.next;
        self.relays.next = self.relays.next.wrapping_add(1);
        self.relays.open.insert(id, Relay { inbox, task });
        Ok(id)
    }

    fn take(&mut self, id: u32) -> relay::Arrived {
        let Some(relay) = self.relays.open.get(&id) else {
            return relay::Arrived::Failed("no such relay".into());
        };
        let mut held = relay.inbox.state.lock().unwrap_or_else(|e| e.into_inner());
        if !held.data.is_empty() {
            let data = std::mem::take(&mut held.data);
            relay.inbox.room.notify_one();
            return relay::Arrived::Data(data);
        }
        held.outcome.clone().unwrap_or(relay::Arrived::Pending)
    }

    fn close(&mut self, id: u32) {
        self.relays.open.remove(&id);
    }
}

/// What to ask, and of whom.
struct Get {
    addr: String,
    pin: Option<String>,
    tls: Option<TlsClient>,
    target: String,
    token: Option<String>,
}

/// Send the GET and keep what arrives in `inbox`, waking the stream each time.
async fn read(get: Get, inbox: Arc<Inbox>, waker: Arc<Notify>) {
    let outcome = match relayed(&get, &inbox, &waker).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::debug!("relaying from {}: {err:#}", get.addr);
            relay::Arrived::Failed(format!("{err:#}"))
        }
    };
    inbox
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .outcome = Some(outcome);
    waker.notify_one();
}

async fn relayed(get: &Get, inbox: &Inbox, waker: &Notify) -> anyhow::Result<relay::Arrived> {
    let mut connection = Connection::open_with(&get.addr, get.tls.as_ref()).await?;
    if let Some(pinned) = &get.pin
        && connection.peer_certificate() != Some(pinned.as_str())
    {
        anyhow::bail!("it presented another certificate than the one it registered with");
    }
    let mut request = Request::get(get.target.as_str())
        .header("host", get.addr.as_str())
        .header(FORWARDED_HEADER, "1");
    if let Some(token) = &get.token {
        request = request.header(TOKEN_HEADER, token.as_str());
    }
    let answer = connection
        .send(request.body(Full::new(Bytes::new()))?)
        .await?;
    let status = answer.status();
    let mut body = answer.into_body();
    if status != StatusCode::OK {
        let mut text = Vec::new();
        while text.len() < REFUSAL_BYTES
            && let Some(Ok(frame)) = body.frame().await
        {
            text.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..]));
        }
        text.truncate(REFUSAL_BYTES);
        return Ok(relay::Arrived::Refused(relay::Refusal {
            status: status.as_u16(),
            message: String::from_utf8_lossy(&text).into_owned(),
        }));
    }
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        loop {
            let room = inbox.room.notified();
            {
                let mut held = inbox.state.lock().unwrap_or_else(|e| e.into_inner());
                if held.data.len() < INBOX_BYTES {
                    held.data.extend_from_slice(&data);
                    break;
                }
            }
            room.await;
        }
        waker.notify_one();
    }
    Ok(relay::Arrived::End)
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    relay::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
