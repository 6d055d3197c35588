//! Keep-alive connections a server reuses to reach its client nodes, so a relayed request
//! costs one HTTP exchange, not a TCP connect (and, between TLS agents, a handshake) as well.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::http_client::Connection;

/// Connections kept per node. A connection still carrying an answer (a follow stream) is
/// kept too and skipped until it is free; when the node has this many, a busy one makes room
/// (letting go of it ends nothing: its answer still flows, then it closes).
const MAX_PER_NODE: usize = 32;

/// Connections by node address and the certificate the node presented (over TLS), so a
/// connection is only ever reused for the identity it was opened to.
#[derive(Default)]
pub(super) struct ConnectionPool {
    connections: Mutex<HashMap<Key, Vec<Connection>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    addr: String,
    certificate: Option<String>,
}

impl ConnectionPool {
    /// Put a connection back once its answer's head is in (its body may still be flowing),
    /// under the certificate it was checked against.
    pub fn keep(&self, addr: &str, certificate: Option<&str>, connection: Connection) {
        let key = Key {
            addr: addr.to_string(),
            certificate: certificate.map(str::to_string),
        };
        let mut connections = self.lock();
        let kept = connections.entry(key).or_default();
        kept.retain(|c| !c.is_closed());
        if kept.len() >= MAX_PER_NODE {
            match kept.iter().position(|c| !c.is_free()) {
                Some(busy) => drop(kept.swap_remove(busy)),
                None => return,
            }
        }
        kept.push(connection);
    }

    /// A free connection to `addr` that was checked against `certificate`, if one is kept.
    pub fn take(&self, addr: &str, certificate: Option<&str>) -> Option<Connection> {
        let key = Key {
            addr: addr.to_string(),
            certificate: certificate.map(str::to_string),
        };
        let mut connections = self.lock();
        let kept = connections.get_mut(&key)?;
        kept.retain(|c| !c.is_closed());
        if kept.is_empty() {
            connections.remove(&key);
            return None;
        }
        let free = kept.iter().position(Connection::is_free)?;
        Some(kept.swap_remove(free))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
