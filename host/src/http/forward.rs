//! Server mode: relay a request to the client node that holds what it names.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::VARY;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::pool::ConnectionPool;
use super::{Body, respond};
use crate::capabilities::HostContext;
use crate::http_client::{Connection, TlsClient};
use crate::registry::FORWARDED_HEADER;
use crate::wit::{handler, types};

/// Relay a request to the client node that holds what it names, streaming the answer back
/// (frames included) with the connection's own backpressure. Dropping either side drops the
/// other. The node sees the caller's token and checks it again. When the node cannot be
/// reached, the answer is the one the core gave with the decision (`to.unreachable`).
///
/// A WebSocket handshake (`upgrade`, an `alloc exec`) is relayed too: when the node switches
/// protocols, both connections are upgraded and their bytes copied both ways until either
/// side closes, so the session's frames pass through untouched.
pub(super) async fn forward(
    ctx: &HostContext,
    pool: &ConnectionPool,
    tls: Option<&TlsClient>,
    request: &types::Request,
    to: &handler::ForwardTo,
    upgrade: Option<OnUpgrade>,
) -> Response<Body> {
    let node_id = &to.node_id;
    let Some(node) = ctx.cluster.nodes.node(node_id) else {
        return respond(to.unreachable.clone());
    };
    let addr = node.record.http_addr;
    let pin = node.certificate.as_deref();
    let no_path = |why: &dyn std::fmt::Display| {
        tracing::warn!("forwarding to node {node_id} at {addr}: {why}");
        respond(to.unreachable.clone())
    };
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let body = Bytes::from(request.body.clone());
    let outgoing = || {
        let mut outgoing = Request::builder()
            .method(request.method.as_str())
            .uri(target.as_str());
        for pair in &request.headers {
            // Hop-by-hop headers stay here (but those of a handshake being relayed);
            // compression is this agent's business with its client.
            let handshake =
                upgrade.is_some() && matches!(pair.name.as_str(), "connection" | "upgrade");
            if handshake || !HOP_BY_HOP.contains(&pair.name.as_str()) {
                outgoing = outgoing.header(pair.name.as_str(), pair.value.as_str());
            }
        }
        outgoing
            .header("host", addr.as_str())
            .header(FORWARDED_HEADER, "1")
            .body(Full::new(body.clone()))
    };
    // Reads reuse a kept connection: if the node closed it while idle, the read is simply
    // sent again on a new one. Anything that changes state gets a connection of its own, so
    // it is never sent twice; so does a handshake, whose connection becomes the session.
    let reusable = upgrade.is_none() && matches!(request.method.as_str(), "GET" | "HEAD");
    let kept = if reusable {
        pool.take(&addr, pin)
    } else {
        None
    };
    let reused = kept.is_some();
    let mut connection = match kept {
        Some(connection) => connection,
        None => match connect(&addr, tls, pin).await {
            Ok(connection) => connection,
            Err(why) => return no_path(&why),
        },
    };
    let mut sent = send(&mut connection, outgoing()).await;
    if sent.is_err() && reused {
        connection = match connect(&addr, tls, pin).await {
            Ok(connection) => connection,
            Err(why) => return no_path(&why),
        };
        sent = send(&mut connection, outgoing()).await;
    }
    match sent {
        Ok(mut answer) if answer.status() == StatusCode::SWITCHING_PROTOCOLS => {
            let Some(incoming) = upgrade else {
                return no_path(&"it switched protocols on a plain request");
            };
            let outgoing = hyper::upgrade::on(&mut answer);
            let relayed = node_id.clone();
            tokio::spawn(async move {
                match (incoming.await, outgoing.await) {
                    (Ok(client), Ok(node)) => {
                        let (mut client, mut node) = (TokioIo::new(client), TokioIo::new(node));
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                    }
                    (Err(err), _) | (_, Err(err)) => {
                        tracing::debug!("relaying a session to node {relayed}: {err}");
                    }
                }
            });
            let (mut parts, _) = answer.into_parts();
            parts.headers.remove("x-caravan-core");
            Response::from_parts(parts, Empty::new().map_err(std::io::Error::other).boxed())
        }
        Ok(answer) => {
            if reusable {
                pool.keep(&addr, pin, connection);
            }
            let (mut parts, body) = answer.into_parts();
            parts.headers.remove(VARY);
            parts.headers.remove("x-caravan-core");
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
        }
        Err(err) => no_path(&format!("{err:#}")),
    }
}

/// Headers that belong to one connection and are not relayed (with the ones this agent
/// sets about its own peer).
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "accept-encoding",
    "keep-alive",
    "upgrade",
    "x-caravan-peer-role",
    "x-caravan-peer-certificate",
];

async fn send(
    connection: &mut Connection,
    outgoing: hyper::http::Result<Request<Full<Bytes>>>,
) -> anyhow::Result<Response<Incoming>> {
    connection
        .send(outgoing.map_err(|err| anyhow::anyhow!("cannot build the request: {err}"))?)
        .await
}

/// A new connection to the node the core named. Between TLS agents over https its
/// certificate is checked against the CA (and, with verify_server_hostname, for
/// client.<region>.nomad); a node that registered over mutual TLS must also answer with the
/// certificate it registered with: nothing (no token) goes to an address held by anyone else.
async fn connect(
    addr: &str,
    tls: Option<&TlsClient>,
    pin: Option<&str>,
) -> Result<Connection, String> {
    let connection = Connection::open_with(addr, tls)
        .await
        .map_err(|err| format!("{err:#}"))?;
    if let Some(pinned) = pin
        && connection.peer_certificate() != Some(pinned)
    {
        return Err(format!(
            "it presented another certificate than the one it registered with (sha256 {pinned})"
        ));
    }
    Ok(connection)
}
