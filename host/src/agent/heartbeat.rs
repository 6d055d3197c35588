//! A client's heartbeat: register with every server every [`HEARTBEAT`], logging only
//! when a server goes away or comes back.

use std::collections::HashMap;

use crate::capabilities::cluster::{HEARTBEAT, REGISTER_PATH, Registration};

/// Register with each server every [`HEARTBEAT`], on a thread of its own, for as long as
/// the process runs. A server that cannot be reached is retried on the next beat.
pub fn start(servers: Vec<String>, describe: impl Fn() -> Registration + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            let mut unreachable: HashMap<String, bool> = HashMap::new();
            loop {
                let body = serde_json::to_vec(&describe()).unwrap_or_default();
                for server in &servers {
                    let ok = matches!(
                        crate::http::client::call_at(server, "POST", REGISTER_PATH, &body),
                        Ok((200, _))
                    );
                    let was_down = unreachable.insert(server.clone(), !ok).unwrap_or(false);
                    if !ok && !was_down {
                        tracing::warn!(
                            "cannot register with server {server}; retrying every {HEARTBEAT:?}"
                        );
                    } else if ok && was_down {
                        tracing::info!("registered with server {server} again");
                    }
                }
                std::thread::sleep(HEARTBEAT);
            }
        });
    if let Err(err) = spawned {
        tracing::error!("failed to start the heartbeat: {err}");
    }
}
