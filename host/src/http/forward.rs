//! Server mode: relay a request to the client node that holds what it names.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::VARY;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::client::{Connection, TlsClient};
use super::{Body, respond};
use crate::capabilities::HostContext;
use crate::capabilities::bindings::{handler, types};
use crate::capabilities::cluster::FORWARDED_HEADER;

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
    let no_path = |why: &dyn std::fmt::Display| {
        tracing::warn!("forwarding to node {node_id} at {addr}: {why}");
        respond(to.unreachable.clone())
    };
    // Only the node the core named (the live owner of what the request names) is called;
    // between TLS agents over https, its certificate checked against the CA (and, with
    // verify_server_hostname, for client.<region>.nomad).
    let mut connection = match Connection::open_with(&addr, tls).await {
        Ok(connection) => connection,
        Err(err) => return no_path(&format!("{err:#}")),
    };
    // A node that registered over mutual TLS must answer with the certificate it registered
    // with: nothing (no token) goes to an address held by anyone else.
    if let Some(pinned) = &node.certificate
        && connection.peer_certificate() != Some(pinned.as_str())
    {
        return no_path(&format!(
            "it presented another certificate than the one it registered with (sha256 {pinned})"
        ));
    }
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let mut outgoing = Request::builder()
        .method(request.method.as_str())
        .uri(target);
    for pair in &request.headers {
        // Hop-by-hop headers stay here (but those of a handshake being relayed);
        // compression is this agent's business with its client.
        let handshake = upgrade.is_some() && matches!(pair.name.as_str(), "connection" | "upgrade");
        if handshake
            || !matches!(
                pair.name.as_str(),
                "host"
                    | "connection"
                    | "content-length"
                    | "transfer-encoding"
                    | "accept-encoding"
                    | "keep-alive"
                    | "upgrade"
                    | "x-caravan-peer-role"
                    | "x-caravan-peer-certificate"
            )
        {
            outgoing = outgoing.header(pair.name.as_str(), pair.value.as_str());
        }
    }
    let outgoing = outgoing
        .header("host", addr.as_str())
        .header(FORWARDED_HEADER, "1")
        .body(Full::new(Bytes::from(request.body.clone())));
    let outgoing = match outgoing {
        Ok(req) => req,
        Err(err) => return no_path(&format!("cannot build the request: {err}")),
    };
    match connection.send(outgoing).await {
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
            let (mut parts, body) = answer.into_parts();
            parts.headers.remove(VARY);
            parts.headers.remove("x-caravan-core");
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
        }
        Err(err) => no_path(&format!("{err:#}")),
    }
}
