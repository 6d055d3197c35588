//! gzip for clients that accept it, flushed per chunk so followed streams are not held back.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue, UPGRADE};
use hyper::{HeaderMap, Response};

use super::Body;

/// Whether the client accepts gzip: listed with a non-zero quality. (Nomad's gorilla
/// handler takes only the first of `gzip`/`deflate` and ignores qualities, so curl's
/// `deflate, gzip` gets nothing compressed from Nomad; here it gets gzip.) Upgrades are
/// never compressed.
pub(super) fn wants_gzip(headers: &HeaderMap) -> bool {
    if headers.contains_key(UPGRADE) {
        return false;
    }
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// Compress a response body with gzip, flushing after every chunk so a followed stream
/// reaches the client as it is written. Empty bodies stay empty (`Content-Length: 0`):
/// the Go client's GC calls fail on any body.
pub(super) fn compress(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if http_body::Body::size_hint(&body).exact() == Some(0) {
        return Response::from_parts(parts, body);
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let gzip = Gzip {
        inner: body,
        encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
    };
    Response::from_parts(parts, gzip.boxed())
}

struct Gzip {
    inner: Body,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl http_body::Body for Gzip {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    encoder.write_all(&data)?;
                    encoder.flush()?;
                    let out = std::mem::take(encoder.get_mut());
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    let tail = this
                        .encoder
                        .take()
                        .map(GzEncoder::finish)
                        .transpose()?
                        .unwrap_or_default();
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(tail)))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
