//! `send-file`: copy a file range the core validated, without passing it through the core.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Response, StatusCode};

use super::{Body, add_headers, plain, respond};
use crate::capabilities::HostContext;
use crate::capabilities::filesystem::task_names;
use crate::metrics;
use crate::wit::handler;

/// Chunk size for copying files: each chunk is one `pread` on the blocking pool straight
/// into the buffer hyper writes from (64 KiB chunks cost a hand-off per 64 KiB and another
/// copy through tokio's file buffer).
const COPY_CHUNK: usize = 1 << 20;

/// Copy a file range without passing it through the core. The file is opened again here
/// with the same containment and secrets checks the core's probe went through; if it is
/// gone by now, the answer is the core's (`send.vanished`). The bytes read for the body
/// count towards `route`'s served bytes.
pub(super) async fn send_file(
    ctx: &Arc<HostContext>,
    send: handler::SendFile,
    route: &'static str,
) -> Response<Body> {
    let tasks = task_names(ctx, &send.alloc_id);
    let opened = {
        let ctx = ctx.clone();
        let (alloc_id, path) = (send.alloc_id.clone(), send.path.clone());
        tokio::task::spawn_blocking(move || ctx.filesystem.open_file(&alloc_id, &path, &tasks))
            .await
    };
    let file = match opened {
        Ok(Ok(file)) => file,
        Ok(Err(err)) => {
            // The file changed between the core's checks and now (removed, replaced).
            tracing::debug!("send-file {}: {err}", send.path);
            return respond(send.vanished);
        }
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let available = size.saturating_sub(send.offset);
    let length = send.limit.map_or(available, |limit| limit.min(available));
    let stream = chunks(Arc::new(file), send.offset, length, route);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    add_headers(&mut response, &send.headers);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// `length` bytes of `file` from `offset`, as body frames of up to [`COPY_CHUNK`] bytes.
fn chunks(
    file: Arc<File>,
    offset: u64,
    length: u64,
    route: &'static str,
) -> impl futures_util::Stream<Item = std::io::Result<Frame<Bytes>>> + Send {
    futures_util::stream::try_unfold((offset, length), move |(pos, left)| {
        let file = file.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(COPY_CHUNK);
            let chunk = tokio::task::spawn_blocking(move || read_chunk(&file, pos, want))
                .await
                .map_err(std::io::Error::other)??;
            if chunk.is_empty() {
                // The file shrank since its size was taken: end short (hyper reports the
                // body as incomplete to the client, as it did with the tokio reader).
                return Ok(None);
            }
            let n = chunk.len() as u64;
            metrics::global().http_served_bytes.add(&[route], n);
            Ok(Some((Frame::data(chunk), (pos + n, left - n))))
        }
    })
}

/// Up to `want` bytes at `pos`; fewer only at end of file.
fn read_chunk(file: &File, pos: u64, want: usize) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    while buf.len() < want {
        let at = pos + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Bytes::from(buf))
}
