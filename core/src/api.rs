//! One request in, one action out: the route table's answer ([`crate::router`]), wrapped in
//! Nomad's CORS handling.

use crate::fs::stream::Stream;
use crate::host::{Host, LogLevel};
use crate::http::{Action, Request, Response};
use crate::router::{dispatch, route};
use crate::wire::params::Query;

/// Decide how to answer `req`.
pub fn handle<H: Host>(host: &H, req: &Request) -> Action<Stream<H::Watch, H::Listing>> {
    let query = Query::parse(&req.query);
    let routed = route(&req.path);
    // Nomad's mux wraps every client route in CORS except GC-all; its fallthrough (the
    // only routing error with an empty body) is not wrapped either.
    let cors = match &routed {
        Ok(route) => route.cors(),
        Err(err) => !err.message.is_empty(),
    };
    if cors && is_preflight(req) {
        return Action::Respond(preflight(req));
    }
    let result = routed.and_then(|route| dispatch(host, req, &query, route));
    let mut action = result.unwrap_or_else(|err| {
        if err.status >= 500 {
            host.log(
                LogLevel::Warn,
                &format!("{} {}: {}", req.method, req.path, err.message),
            );
        }
        Action::Respond(err.into_response())
    });
    if cors {
        // Every answer the host may send carries them; a relayed answer has the node's own.
        match &mut action {
            Action::Respond(response) => add_cors_headers(req, &mut response.headers),
            Action::SendFile(send) => {
                add_cors_headers(req, &mut send.headers);
                add_cors_headers(req, &mut send.vanished.headers);
            }
            Action::Stream(stream) => add_cors_headers(req, &mut stream.headers),
            Action::Forward(to) => add_cors_headers(req, &mut to.unreachable.headers),
            Action::Exec(exec) => add_cors_headers(req, &mut exec.not_running.headers),
        }
    }
    action
}

fn is_preflight(req: &Request) -> bool {
    req.method == "OPTIONS" && req.header("access-control-request-method").is_some()
}

/// rs/cors as Nomad configures it (GET and HEAD allowed, any header, credentials), except
/// that the request's Origin is reflected: browsers refuse `*` with credentials.
fn preflight(req: &Request) -> Response {
    let mut headers = vec![(
        "Vary".to_string(),
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_string(),
    )];
    let method = req
        .header("access-control-request-method")
        .unwrap_or("")
        .to_ascii_uppercase();
    if let Some(origin) = req.header("origin").filter(|o| !o.is_empty())
        && matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
    {
        headers.push(("Access-Control-Allow-Origin".into(), origin.into()));
        headers.push(("Access-Control-Allow-Methods".into(), method));
        if let Some(requested) = req
            .header("access-control-request-headers")
            .filter(|h| !h.is_empty())
        {
            headers.push(("Access-Control-Allow-Headers".into(), requested.into()));
        }
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    Response {
        status: 204,
        headers,
        body: Vec::new(),
    }
}

fn add_cors_headers(req: &Request, headers: &mut Vec<(String, String)>) {
    headers.push(("Vary".into(), "Origin".into()));
    if let Some(origin) = req.header("origin").filter(|o| !o.is_empty())
        && matches!(req.method.as_str(), "GET" | "HEAD")
    {
        headers.push(("Access-Control-Allow-Origin".into(), origin.into()));
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
}

#[cfg(test)]
mod tests;
