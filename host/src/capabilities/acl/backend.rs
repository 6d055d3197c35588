//! The ACL API's state and where it is kept durably: the agent's state database, or on a
//! server with `registry = "etcd"` etcd, whose watch fills the state (`etcd_acl.rs`). The
//! records themselves and their in-memory index are `api.rs`.

use std::sync::{Arc, RwLock};

use super::api::{ApiState, Compile};
use super::etcd_acl::EtcdAcl;
use crate::store::StateStore;
use crate::wit::policy::CompiledPolicy;

/// Where the API's records are kept durably.
pub enum Backend {
    /// The agent's own state database.
    Local(Arc<StateStore>),
    /// etcd, shared by every server.
    Etcd(EtcdAcl),
}

/// The API's ACL state and where it is kept.
pub struct ApiAcl {
    /// The records in memory, which reads answer from.
    pub state: Arc<RwLock<ApiState>>,
    backend: Backend,
}

impl ApiAcl {
    /// Kept in the agent's state database; its records are loaded by the first `reload`.
    pub fn local(store: Arc<StateStore>) -> Self {
        Self {
            state: Arc::default(),
            backend: Backend::Local(store),
        }
    }

    /// Kept in etcd, whose watch fills `state`.
    pub fn etcd(state: Arc<RwLock<ApiState>>, etcd: EtcdAcl) -> Self {
        Self {
            state,
            backend: Backend::Etcd(etcd),
        }
    }

    /// The records, for reading.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, ApiState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the records again (local) and compile every policy with `compile`.
    pub fn reload(&self, compile: Compile) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Backend::Local(store) = &self.backend {
            match store.acl_records() {
                Ok(records) => {
                    let mut fresh = ApiState::default();
                    for (key, value) in records {
                        // Policies compile below.
                        fresh.apply(&key, Some(&value), None, None);
                    }
                    *state = fresh;
                }
                Err(err) => tracing::error!("failed to read the ACL state: {err:#}"),
            }
        }
        state.recompile(compile);
    }

    /// Write one record (`None`: delete it) where it is kept, then here.
    pub fn write(
        &self,
        key: &str,
        value: Option<String>,
        compiled: Option<CompiledPolicy>,
    ) -> Result<(), String> {
        match &self.backend {
            Backend::Local(store) => {
                store
                    .put_acl(key, value.as_deref())
                    .map_err(|e| format!("{e:#}"))?;
            }
            Backend::Etcd(etcd) => etcd.write(key, value.as_deref())?,
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.apply(key, value.as_deref(), None, compiled);
        Ok(())
    }

    /// The index the next write takes (with etcd, past every revision seen).
    pub fn next_index(&self) -> u64 {
        self.read().index + 1
    }
}
