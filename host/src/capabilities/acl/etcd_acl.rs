//! The ACL API's records in etcd (a server with `registry = "etcd"`): every server writes
//! policies and tokens under `<prefix>acl/` and watches that prefix, so a policy or token
//! written through any server is known to all of them. Reads never touch etcd: the watch
//! keeps this server's [`ApiState`] in sync, and while etcd is unreachable the server keeps
//! what it had (writes then fail with a 500).

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use tokio::sync::watch;
use tokio::time::timeout;

use super::api::ApiState;
use super::remote::Compiler;
use crate::registry::EtcdSettings;

const RETRY: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The compiler of policies that arrive through the watch, set once the core is loaded.
pub type SharedCompiler = Arc<OnceLock<Box<Compiler<'static>>>>;

/// Writes to etcd; a task watches it.
pub struct EtcdAcl {
    prefix: String,
    client: watch::Receiver<Option<Client>>,
    runtime: tokio::runtime::Handle,
}

impl EtcdAcl {
    /// Start the watch of `<prefix>acl/` on the current tokio runtime.
    pub fn start(
        settings: &EtcdSettings,
        state: Arc<RwLock<ApiState>>,
        compiler: SharedCompiler,
    ) -> Result<Self> {
        let (endpoints, options) = crate::registry::etcd_connection(settings)?;
        let prefix = format!("{}acl/", settings.prefix);
        let (clients, client) = watch::channel(None);
        tokio::spawn(watcher(
            prefix.clone(),
            endpoints,
            options,
            clients,
            state,
            compiler,
        ));
        Ok(Self {
            prefix,
            client,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Put (or, `None`, delete) one record and wait for etcd to accept it. Called from the
    /// core's blocking thread, never from the async executor.
    pub fn write(&self, key: &str, value: Option<&str>) -> Result<(), String> {
        let mut client = self
            .client
            .borrow()
            .clone()
            .ok_or("etcd is not reachable")?;
        let key = format!("{}{key}", self.prefix);
        let value = value.map(str::to_string);
        self.runtime.block_on(async move {
            let written = match value {
                Some(value) => timeout(CALL_TIMEOUT, client.put(key, value, None))
                    .await
                    .map(|r| r.map(drop)),
                None => timeout(CALL_TIMEOUT, client.delete(key, None))
                    .await
                    .map(|r| r.map(drop)),
            };
            match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(format!("etcd: {err}")),
                Err(_) => Err(format!("etcd did not answer within {CALL_TIMEOUT:?}")),
            }
        })
    }
}

/// Connect, list, watch; again after every failure.
async fn watcher(
    prefix: String,
    endpoints: Vec<String>,
    options: ConnectOptions,
    clients: watch::Sender<Option<Client>>,
    state: Arc<RwLock<ApiState>>,
    compiler: SharedCompiler,
) {
    let mut failing = false;
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
            sync(&prefix, client, &state, &compiler, &mut failing).await
        }
        .await;
        if let Err(err) = synced
            && !std::mem::replace(&mut failing, true)
        {
            tracing::warn!("etcd ACL store: {err:#}; serving the last known policies and tokens");
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// List `<prefix>acl/`, then follow every change until the watch breaks.
async fn sync(
    prefix: &str,
    mut client: Client,
    state: &RwLock<ApiState>,
    compiler: &SharedCompiler,
    failing: &mut bool,
) -> Result<()> {
    let listed = timeout(
        CALL_TIMEOUT,
        client.get(prefix, Some(GetOptions::new().with_prefix())),
    )
    .await
    .context("listing timed out")?
    .context("listing")?;
    let revision = listed
        .header()
        .map(|h| h.revision())
        .context("etcd's answer has no revision")?;
    let mut stream = timeout(
        CALL_TIMEOUT,
        client.watch(
            prefix,
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
    let compile = compiler
        .get()
        .map(|c| -> super::api::Compile { c.as_ref() });
    {
        let mut fresh = ApiState::default();
        for kv in listed.kvs() {
            if let (Ok(key), Ok(value)) = (kv.key_str(), kv.value_str()) {
                fresh.apply(key.trim_start_matches(prefix), Some(value), compile, None);
            }
        }
        fresh.index = fresh.index.max(revision as u64);
        *state.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }
    if std::mem::replace(failing, false) {
        tracing::info!("etcd ACL store in sync again at revision {revision}");
    }
    while let Some(response) = stream.message().await.context("the watch broke")? {
        if response.canceled() {
            bail!("etcd cancelled the watch ({})", response.cancel_reason());
        }
        let compile = compiler
            .get()
            .map(|c| -> super::api::Compile { c.as_ref() });
        let mut state = state.write().unwrap_or_else(|e| e.into_inner());
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let Ok(key) = kv.key_str() else { continue };
            let key = key.trim_start_matches(prefix);
            match event.event_type() {
                EventType::Put => state.apply(key, kv.value_str().ok(), compile, None),
                EventType::Delete => state.apply(key, None, compile, None),
            }
            state.index = state.index.max(kv.mod_revision() as u64);
        }
    }
    bail!("etcd closed the watch")
}
