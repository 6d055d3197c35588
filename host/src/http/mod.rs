//! HTTP: hyper serving the API, carrying out what the core decided, and the one client
//! every outgoing call uses. The core is reached through [`crate::runtime::Core`] only.

mod admin;
mod dispatch;
mod exec;
mod forward;
mod gzip;
pub mod limits;
mod metrics;
mod pool;
mod pump;
mod send_file;
pub mod server;
mod shared;
pub mod tls;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::wit::types;

/// Every response body the server sends.
type Body = BoxBody<Bytes, std::io::Error>;

fn respond(r: types::Response) -> Response<Body> {
    let mut response = Response::new(full(r.body));
    *response.status_mut() = status(r.status);
    add_headers(&mut response, &r.headers);
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn add_headers(response: &mut Response<Body>, headers: &[types::Pair]) {
    for pair in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(pair.name.as_bytes()),
            HeaderValue::from_str(&pair.value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
}

/// Every response names the core that served it (or, for the host's own routes, the core
/// serving now).
fn add_core_header(response: &mut Response<Body>, version: &str) {
    if let Ok(version) = HeaderValue::from_str(version) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-caravan-core"), version);
    }
}

/// A plain-text answer made by the host itself: transport faults only (a body over the limit,
/// a core that trapped). Every API answer, error texts included, comes from the core.
fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(full(message.as_bytes().to_vec()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never: Infallible| match never {})
        .boxed()
}
