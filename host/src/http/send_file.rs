//! `send-file`: copy a file range the core validated, without passing it through the core.

use std::io::SeekFrom;
use std::sync::Arc;

use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{Body, add_headers, plain, respond};
use crate::capabilities::HostContext;
use crate::capabilities::bindings::handler;
use crate::capabilities::filesystem::task_names;

/// Chunk size for copying files.
const COPY_CHUNK: usize = 64 << 10;

/// Copy a file range without passing it through the core. The file is opened again here
/// with the same containment and secrets checks the core's probe went through; if it is
/// gone by now, the answer is the core's (`send.vanished`).
pub(super) async fn send_file(ctx: &Arc<HostContext>, send: handler::SendFile) -> Response<Body> {
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
    let mut file = tokio::fs::File::from_std(file);
    if let Err(err) = file.seek(SeekFrom::Start(send.offset)).await {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to seek: {err}"),
        );
    }
    let stream = ReaderStream::with_capacity(file.take(length), COPY_CHUNK).map_ok(Frame::data);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    add_headers(&mut response, &send.headers);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}
