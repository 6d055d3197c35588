//! A client's heartbeat: register with every server every [`HEARTBEAT`], logging only
//! when a server goes away or comes back.

use std::collections::HashMap;

use crate::http::client::{self, TOKEN_HEADER, TlsClient};
use crate::registry::{HEARTBEAT, REGISTER_PATH, Registration};

/// Register with each server every [`HEARTBEAT`], in a task of its own on the agent's
/// runtime, for as long as the process runs. A server that cannot be reached (or does not
/// answer within a beat) is retried on the next beat. `token` (`client.node_token`, else
/// `NOMAD_TOKEN`) is sent as `X-Nomad-Token`; with `tls`, over https.
pub fn start(
    servers: Vec<String>,
    token: Option<String>,
    tls: Option<TlsClient>,
    describe: impl Fn() -> Registration + Send + 'static,
) {
    tokio::spawn(async move {
        let mut unreachable: HashMap<String, bool> = HashMap::new();
        loop {
            let body = serde_json::to_vec(&describe()).unwrap_or_default();
            for server in &servers {
                let status = register(server, tls.as_ref(), token.as_deref(), body.clone()).await;
                let ok = status == Some(200);
                if status == Some(403) && !unreachable.get(server).copied().unwrap_or(false) {
                    tracing::warn!(
                        "server {server} refused the registration (403): with ACLs on, \
                         client.node_token (or NOMAD_TOKEN) must hold a token with node \
                         write, and with mutual TLS the certificate must name client.global.nomad"
                    );
                }
                let was_down = unreachable.insert(server.clone(), !ok).unwrap_or(false);
                if !ok && !was_down {
                    tracing::warn!(
                        "cannot register with server {server}; retrying every {HEARTBEAT:?}"
                    );
                } else if ok && was_down {
                    tracing::info!("registered with server {server} again");
                }
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    });
}

/// One registration: the server's status, or `None` when it could not be reached in time.
async fn register(
    server: &str,
    tls: Option<&TlsClient>,
    token: Option<&str>,
    body: Vec<u8>,
) -> Option<u16> {
    let headers: Vec<(&str, &str)> = token.map(|t| (TOKEN_HEADER, t)).into_iter().collect();
    let request = client::request("POST", REGISTER_PATH, &headers, body).ok()?;
    match tokio::time::timeout(HEARTBEAT, client::fetch_with(server, tls, request)).await {
        Ok(Ok(reply)) => Some(reply.status.as_u16()),
        Ok(Err(err)) => {
            tracing::debug!("registering with {server}: {err:#}");
            None
        }
        Err(_) => None,
    }
}
