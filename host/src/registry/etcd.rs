//! The node registry in etcd (`server { registry = "etcd" }`): every server writes the
//! registrations it receives under `<prefix>nodes/<node-id>`, each with a lease of the
//! heartbeat grace ([`TTL`]), and watches the prefix, so every server knows every node
//! whichever server it registered with, and a node whose heartbeats stop disappears from all
//! of them when its lease expires.
//!
//! Reads never touch etcd: the watch keeps this server's [`View`] in sync, and when etcd is
//! unreachable the server keeps serving from the last view it had (saying so in
//! `/v1/agent/health` and, once per outage, in its log). When etcd is back it lists the
//! prefix again, watches from that revision, and re-writes the registrations it holds.
//!
//! Each write grants a fresh lease and puts the registration with it (a put does not renew
//! the lease a key already has): two unary calls per heartbeat and node, no keep-alive
//! stream per node. The lease a key had before lapses on its own, holding nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, PutOptions, TlsOptions,
    WatchOptions,
};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::timeout;

use super::etcd_stored::{Stored, encode};
use super::view::{NodeRecord, Nodes, Registered, TTL, View};
use crate::wit::allocations::Allocation;

/// How to reach etcd and where the registry lives in it (`server { etcd { ... } }`).
#[derive(Debug, Clone, Default)]
pub struct EtcdSettings {
    /// etcd's client URLs (`host:port` or `http(s)://host:port`).
    pub endpoints: Vec<String>,
    /// The key prefix, `/caravan/` by default; nodes are under `<prefix>nodes/`.
    pub prefix: String,
    /// The CA that signs etcd's certificate.
    pub ca_file: Option<PathBuf>,
    /// The certificate presented to etcd, for its client auth.
    pub cert_file: Option<PathBuf>,
    /// The key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// etcd's own authentication: the user.
    pub username: Option<String>,
    /// The password of `username`.
    pub password: Option<String>,
}

/// Between two attempts to reach etcd again.
const RETRY: Duration = Duration::from_secs(1);
/// The deadline of one unary call (a list, a lease grant, a put, connecting).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// What the watch says before its first attempt.
const NOT_CONNECTED: &str = "not connected yet";
/// Writes in flight at once.
const WRITERS: usize = 64;

/// The etcd side of a [`super::Cluster`].
pub(super) struct Etcd {
    shared: Arc<EtcdState>,
}

struct EtcdState {
    /// `<prefix>nodes/`.
    nodes_prefix: String,
    /// The latest registration not written yet, per node: heartbeats coalesce while etcd is
    /// slow or away, so what waits is bounded by the number of nodes.
    pending: Mutex<HashMap<String, Vec<u8>>>,
    wake: mpsc::UnboundedSender<String>,
    status: Status,
    view: Arc<View>,
}

/// What is wrong with etcd, if anything; each change is logged once.
struct Status {
    /// The watch is not in sync (etcd unreachable, the watch broken).
    watch: Mutex<Option<String>>,
    /// The last write failed.
    write: Mutex<Option<String>>,
    /// The TTL etcd granted the last lease (it may raise the one asked for).
    granted_ttl: AtomicI64,
}

impl Status {
    fn set(slot: &Mutex<Option<String>>, what: &str, error: Option<String>) {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        // Before the first attempt nothing was up: a failure is news, a success is not.
        let starting = slot.as_deref() == Some(NOT_CONNECTED);
        match &error {
            Some(error) if starting || slot.is_none() => tracing::warn!(
                "etcd registry: {what} failed: {error}; serving from the last known view \
                 until etcd is back"
            ),
            None if slot.is_some() && !starting => {
                tracing::info!("etcd registry: {what} works again")
            }
            _ => {}
        }
        *slot = error;
    }

    fn watch(&self, error: Option<String>) {
        Self::set(&self.watch, "watching", error);
    }

    fn wrote(&self, result: Result<()>) {
        Self::set(
            &self.write,
            "writing",
            result.err().map(|e| format!("{e:#}")),
        );
    }
}

impl Etcd {
    /// Start the watch and the writer on the current tokio runtime.
    pub(super) fn start(settings: EtcdSettings, view: Arc<View>) -> Result<Self> {
        let (endpoints, options) = connection(&settings)?;
        let (wake, woken) = mpsc::unbounded_channel();
        let shared = Arc::new(EtcdState {
            nodes_prefix: format!("{}nodes/", settings.prefix),
            pending: Mutex::new(HashMap::new()),
            wake,
            status: Status {
                watch: Mutex::new(Some(NOT_CONNECTED.into())),
                write: Mutex::new(None),
                granted_ttl: AtomicI64::new(0),
            },
            view,
        });
        let (clients, current) = watch::channel(None);
        tokio::spawn(watcher(shared.clone(), endpoints, options, clients));
        tokio::spawn(writer(shared.clone(), woken, current));
        Ok(Self { shared })
    }

    /// Queue the registration of node `id` for etcd (the view is updated by the caller).
    pub(super) fn write(
        &self,
        id: &str,
        node: &NodeRecord,
        allocations: &[Allocation],
        certificate: Option<&str>,
        secret_sha256: Option<&str>,
        seen_at: SystemTime,
    ) {
        let value = encode(node, allocations, certificate, secret_sha256, seen_at);
        self.shared.queue(id, value);
    }

    /// Whether etcd is reachable and the view in sync, and a message saying so.
    pub(super) fn health(&self) -> (bool, String) {
        let status = &self.shared.status;
        let problems: Vec<String> = [&status.watch, &status.write]
            .into_iter()
            .filter_map(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect();
        let nodes = self.shared.view.read().len();
        if problems.is_empty() {
            (true, "ok".into())
        } else {
            (
                false,
                format!(
                    "etcd registry: {}; serving from the last known view ({nodes} nodes)",
                    problems.join("; ")
                ),
            )
        }
    }
}

impl EtcdState {
    fn queue(&self, id: &str, value: Vec<u8>) {
        let fresh = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), value)
            .is_none();
        if fresh {
            let _ = self.wake.send(id.to_string());
        }
    }

    fn node_id<'k>(&self, key: &'k [u8]) -> Option<&'k str> {
        std::str::from_utf8(key)
            .ok()?
            .strip_prefix(&self.nodes_prefix)
            .filter(|id| !id.is_empty())
    }

    fn decode(&self, key: &[u8], value: &[u8]) -> Option<(String, Stored)> {
        let id = self.node_id(key)?;
        match serde_json::from_slice::<Stored>(value) {
            Ok(stored) => Some((id.to_string(), stored)),
            Err(err) => {
                tracing::warn!("etcd registry: ignoring node {id}: {err}");
                None
            }
        }
    }

    /// A registration etcd holds: in the view, newer data winning.
    fn apply(nodes: &mut Nodes, id: String, stored: Stored) {
        let seen_at = UNIX_EPOCH + Duration::from_millis(stored.seen_ms);
        let heard = match nodes.get(&id) {
            Some(known) if seen_at < known.seen_at => {
                nodes.set_shared(&id, true);
                return;
            }
            Some(known) => known.heard,
            None => {
                tracing::info!(
                    "node {id} registered from {} (through etcd)",
                    stored.node.http_addr
                );
                None
            }
        };
        let allocations = stored
            .allocations
            .into_iter()
            .map(Allocation::from)
            .collect();
        nodes.insert(
            id,
            Registered {
                node: stored.node,
                allocations,
                certificate: stored.certificate,
                secret_sha256: stored.secret_sha256,
                heard,
                seen_at,
                shared: true,
            },
        );
    }

    /// After a fresh list: exactly the listed nodes are in etcd.
    fn resync(&self, listed: Vec<(String, Stored)>) {
        let mut nodes = self.view.write();
        nodes.clear_shared();
        for (id, stored) in listed {
            Self::apply(&mut nodes, id, stored);
        }
    }

    /// etcd is out of reach, so no lease can be seen to expire: a node this server hears
    /// itself is judged by its own heartbeats again (down [`TTL`] after the last, as with the
    /// in-memory registry), while one known only through etcd keeps its last known state
    /// until etcd is back (its next list says which are in it).
    fn out_of_sync(&self) {
        self.view.write().unshare_heard();
    }

    /// Queue again every registration this server holds (heard within [`TTL`]), so what
    /// was written while etcd was away, or lost with it, is there again.
    fn requeue_held(&self) {
        let held: Vec<(String, Vec<u8>)> = self
            .view
            .read()
            .iter()
            .filter(|(_, r)| r.heard.is_some_and(|h| h.elapsed() < TTL))
            .map(|(id, r)| {
                (
                    id.clone(),
                    encode(
                        &r.node,
                        &r.allocations,
                        r.certificate.as_deref(),
                        r.secret_sha256.as_deref(),
                        r.seen_at,
                    ),
                )
            })
            .collect();
        for (id, value) in held {
            self.queue(&id, value);
        }
    }
}

/// Connect, list, watch; again after every failure, for as long as the process runs.
async fn watcher(
    shared: Arc<EtcdState>,
    endpoints: Vec<String>,
    options: ConnectOptions,
    clients: watch::Sender<Option<Client>>,
) {
    loop {
        let synced = async {
            let client = timeout(
                CALL_TIMEOUT,
                Client::connect(endpoints.clone(), Some(options.clone())),
            )
            .await
            .context("connecting timed out")?
            .context("connecting")?;
            clients.send_replace(Some(client.clone()));
            sync(&shared, client).await
        }
        .await;
        if let Err(err) = synced {
            shared.status.watch(Some(format!("{err:#}")));
            shared.out_of_sync();
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// List the nodes, then follow every change from that revision on until the watch breaks.
async fn sync(shared: &EtcdState, mut client: Client) -> Result<()> {
    let prefix = shared.nodes_prefix.clone();
    let listed = timeout(
        CALL_TIMEOUT,
        client.get(prefix.clone(), Some(GetOptions::new().with_prefix())),
    )
    .await
    .context("listing timed out")?
    .context("listing")?;
    let revision = listed
        .header()
        .map(|h| h.revision())
        .context("etcd's answer has no revision")?;
    let nodes: Vec<(String, Stored)> = listed
        .kvs()
        .iter()
        .filter_map(|kv| shared.decode(kv.key(), kv.value()))
        .collect();
    let count = nodes.len();
    let mut stream = timeout(
        CALL_TIMEOUT,
        client.watch(
            prefix.clone(),
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1),
            ),
        ),
    )
    .await
    .context("watching timed out")?
    .context("watching")?;
    shared.resync(nodes);
    shared.status.watch(None);
    tracing::info!("etcd registry in sync: {count} nodes at revision {revision}");
    shared.requeue_held();
    while let Some(response) = stream.message().await.context("the watch broke")? {
        if response.canceled() {
            bail!(
                "etcd cancelled the watch ({}; compacted at revision {})",
                response.cancel_reason(),
                response.compact_revision()
            );
        }
        let mut nodes = shared.view.write();
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            match event.event_type() {
                EventType::Put => {
                    if let Some((id, stored)) = shared.decode(kv.key(), kv.value()) {
                        EtcdState::apply(&mut nodes, id, stored);
                    }
                }
                EventType::Delete => {
                    if let Some(id) = shared.node_id(kv.key())
                        && nodes.set_shared(id, false).is_some()
                    {
                        tracing::info!("node {id}: its registration left etcd (lease expired)");
                    }
                }
            }
        }
    }
    bail!("etcd closed the watch")
}

/// Write queued registrations, [`WRITERS`] at a time, with the newest client.
async fn writer(
    shared: Arc<EtcdState>,
    mut woken: mpsc::UnboundedReceiver<String>,
    mut current: watch::Receiver<Option<Client>>,
) {
    let permits = Arc::new(Semaphore::new(WRITERS));
    while let Some(id) = woken.recv().await {
        let client = loop {
            if let Some(client) = current.borrow_and_update().clone() {
                break client;
            }
            if current.changed().await.is_err() {
                return;
            }
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let value = shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let Some(value) = value else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let written = put(client, &shared, &id, value).await;
            shared.status.wrote(written);
            drop(permit);
        });
    }
}

/// Grant a lease of [`TTL`] and put the registration with it.
async fn put(mut client: Client, shared: &EtcdState, id: &str, value: Vec<u8>) -> Result<()> {
    let asked = TTL.as_secs() as i64;
    let lease = timeout(CALL_TIMEOUT, client.lease_grant(asked, None))
        .await
        .context("granting a lease timed out")?
        .context("granting a lease")?;
    let granted = lease.ttl();
    if shared.status.granted_ttl.swap(granted, Ordering::Relaxed) != granted && granted != asked {
        tracing::warn!(
            "etcd granted leases of {granted} s for the {asked} s asked: a dead node leaves the \
             registry after {granted} s"
        );
    }
    let key = format!("{}{id}", shared.nodes_prefix);
    timeout(
        CALL_TIMEOUT,
        client.put(key, value, Some(PutOptions::new().with_lease(lease.id()))),
    )
    .await
    .context("writing timed out")?
    .context("writing")?;
    Ok(())
}

/// The endpoint URLs and connection options `settings` describe (shared with the ACL
/// store's watch, `acl/etcd_acl.rs`).
pub fn connection(settings: &EtcdSettings) -> Result<(Vec<String>, ConnectOptions)> {
    let options = connect_options(settings)?;
    let tls = options_use_tls(settings);
    let endpoints = settings
        .endpoints
        .iter()
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else if tls {
                format!("https://{e}")
            } else {
                format!("http://{e}")
            }
        })
        .collect();
    Ok((endpoints, options))
}

fn options_use_tls(settings: &EtcdSettings) -> bool {
    settings.ca_file.is_some() || settings.cert_file.is_some()
}

fn connect_options(settings: &EtcdSettings) -> Result<ConnectOptions> {
    // No per-call timeout here: it would also end the watch stream. Unary calls have their
    // own deadline; keep-alive pings notice a connection that died silently.
    let mut options = ConnectOptions::new()
        .with_connect_timeout(CALL_TIMEOUT)
        .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5))
        .with_keep_alive_while_idle(true);
    if options_use_tls(settings) {
        let mut tls = TlsOptions::new();
        if let Some(ca) = &settings.ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("server.etcd.ca_file {}", ca.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) {
            let cert = std::fs::read(cert)
                .with_context(|| format!("server.etcd.cert_file {}", cert.display()))?;
            let key = std::fs::read(key)
                .with_context(|| format!("server.etcd.key_file {}", key.display()))?;
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        options = options.with_tls(tls);
    }
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        options = options.with_user(user.clone(), password.clone());
    }
    Ok(options)
}

#[cfg(test)]
mod tests;
