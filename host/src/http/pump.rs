//! Streamed bodies: pull the core's body on a task of its own until it ends, the client
//! goes away, or the agent shuts down. Open streams are bounded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::shared::ServerState;
use super::{Body, add_headers, plain, status};
use crate::metrics;
use crate::metrics::record_core_call;
use crate::runtime::Pull;
use crate::wit::{handler, types};

/// Start pulling a streamed body from the core on its own task. The body ends when the
/// core says so, when the client goes away, or at shutdown. The bytes sent count towards
/// `route`'s served bytes.
pub(super) fn stream(
    shared: &Arc<ServerState>,
    code: u16,
    headers: &[types::Pair],
    body: Box<dyn Pull>,
    route: &'static str,
) -> Response<Body> {
    let Some(slot) = StreamSlot::take(shared) else {
        let message = format!(
            "too many concurrent streams (limit {})",
            shared.options.max_streams
        );
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, &message);
        response
            .headers_mut()
            .insert("Retry-After", HeaderValue::from_static("1"));
        return response;
    };
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    tokio::spawn(pump(body, tx, shared.closing.clone(), slot, route));
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(Frame::data(chunk)), rx))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
    *response.status_mut() = status(code);
    add_headers(&mut response, headers);
    response
}

async fn pump(
    mut body: Box<dyn Pull>,
    tx: mpsc::Sender<Bytes>,
    closing: CancellationToken,
    _slot: StreamSlot,
    route: &'static str,
) {
    let started = Instant::now();
    let waker = body.waker();
    loop {
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let pulled = tokio::task::spawn_blocking(move || {
            let called = Instant::now();
            let step = body.next(now_ms);
            record_core_call("next", called, step.is_err());
            (body, step)
        })
        .await;
        let Ok((returned, step)) = pulled else { return };
        body = returned;
        match step {
            Ok(handler::Step::Data(data)) => {
                let n = data.len() as u64;
                if tx.send(Bytes::from(data)).await.is_err() {
                    break;
                }
                metrics::global().http_served_bytes.add(&[route], n);
            }
            Ok(handler::Step::Wait(ms)) => {
                tokio::select! {
                    () = waker.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(u64::from(ms))) => {}
                    () = tx.closed() => break,
                    () = closing.cancelled() => break,
                }
            }
            Ok(handler::Step::End) => break,
            Err(trap) => {
                tracing::error!("a stream's core failed: {trap:#}");
                break;
            }
        }
    }
    // Dropping the store (or the native host state) releases every subscription the stream
    // held.
    drop(body);
}

/// One of the bounded stream slots; freed on drop.
struct StreamSlot(Arc<ServerState>);

impl StreamSlot {
    fn take(shared: &Arc<ServerState>) -> Option<Self> {
        let max = shared.options.max_streams;
        shared
            .open_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(shared.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::AcqRel);
    }
}
