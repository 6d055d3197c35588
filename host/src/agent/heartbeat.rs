//! A client's heartbeat: register with every server every [`HEARTBEAT`], logging only
//! when a server's answer changes (it goes away, refuses and says why, or comes back).

use std::collections::HashMap;

use crate::http_client::{self, TOKEN_HEADER, TlsClient};
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
        // Why each server last turned the heartbeat away (`None`: it took it).
        let mut failing: HashMap<String, Option<String>> = HashMap::new();
        loop {
            let body = serde_json::to_vec(&describe()).unwrap_or_default();
            for server in &servers {
                let outcome = register(server, tls.as_ref(), token.as_deref(), body.clone()).await;
                let why = outcome.err();
                let before = failing.insert(server.clone(), why.clone());
                match (&why, before.flatten()) {
                    (Some(why), before) if before.as_ref() != Some(why) => tracing::warn!(
                        "cannot register with server {server}: {why}; retrying every {HEARTBEAT:?}"
                    ),
                    (None, Some(_)) => tracing::info!("registered with server {server} again"),
                    _ => {}
                }
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    });
}

/// One registration: `Ok` when the server recorded it, else why not, in words for the log
/// (the same words each beat while nothing changes, so an outage is logged once).
async fn register(
    server: &str,
    tls: Option<&TlsClient>,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<(), String> {
    let headers: Vec<(&str, &str)> = token.map(|t| (TOKEN_HEADER, t)).into_iter().collect();
    let request = http_client::request("POST", REGISTER_PATH, &headers, body)
        .map_err(|err| format!("{err:#}"))?;
    let reply = match tokio::time::timeout(HEARTBEAT, http_client::fetch_with(server, tls, request))
        .await
    {
        Ok(Ok(reply)) => reply,
        Ok(Err(err)) => return Err(format!("{err:#}")),
        Err(_) => return Err(format!("no answer within {HEARTBEAT:?}")),
    };
    let status = reply.status.as_u16();
    if status == 200 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&reply.body);
    let hint = match status {
        403 => {
            " (with ACLs on, client.node_token or NOMAD_TOKEN must hold a token with node \
             write; with mutual TLS, the certificate must name client.global.nomad)"
        }
        _ => "",
    };
    Err(format!("it refused ({status}): {}{hint}", text.trim()))
}
