//! A client's heartbeat: register with every server every [`HEARTBEAT`], logging only
//! when a server goes away or comes back.
//!
//! The server's core decides whether to record it; with ACLs on it asks for a token with
//! `node:write`, which the heartbeat sends from the agent's `NOMAD_TOKEN` environment variable
//! (the HTTP client's rule). A dedicated agent token is left to the agent-token work.

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
                    let answer = crate::http::client::call_at(server, "POST", REGISTER_PATH, &body);
                    let ok = matches!(answer, Ok((200, _)));
                    if let Ok((403, _)) = answer
                        && !unreachable.get(server).copied().unwrap_or(false)
                    {
                        crate::warn!(
                            "server {server} refused the registration (403): with ACLs on, \
                             NOMAD_TOKEN must hold a token with node write"
                        );
                    }
                    let was_down = unreachable.insert(server.clone(), !ok).unwrap_or(false);
                    if !ok && !was_down {
                        crate::warn!(
                            "cannot register with server {server}; retrying every {HEARTBEAT:?}"
                        );
                    } else if ok && was_down {
                        crate::info!("registered with server {server} again");
                    }
                }
                std::thread::sleep(HEARTBEAT);
            }
        });
    if let Err(err) = spawned {
        crate::error!("failed to start the heartbeat: {err}");
    }
}
