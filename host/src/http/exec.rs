//! `alloc exec` once the core has decided it: answer the WebSocket upgrade, start the
//! command (`allocs::exec`) and move Nomad's exec frames between the socket and the
//! process. The frames are encoded and decoded by `caravan_core::alloc::exec`, linked natively.
//!
//! The session ends with `{"exited":true,"result":{"exit_code":N}}` and a close frame once
//! the command has exited and its output is read (or a moment after its exit, when
//! something outside its group still holds the output open); a client that goes away
//! has the command's process group killed. A command that cannot start (no such file, not
//! executable) ends the session with a close frame `1011` whose reason says why, in Go's
//! words, as Nomad's does: its clients print that text.

use std::sync::Arc;
use std::time::Duration;

use caravan_core::alloc::exec::{self as frames, Input};
use futures_util::{SinkExt, StreamExt};
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, frame::coding::CloseCode};

use super::{Body, full, respond};
use crate::allocs::exec::{Event, Process};
use crate::capabilities::HostContext;
use crate::wit::handler;

/// How long the output may stay open after the command exited (a process that left its
/// group holds it) before the session ends anyway.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// How long a finished session waits for the client to answer its close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Answer the upgrade and run the session, or the core's `not-running` answer when the
/// task has stopped since the decision.
pub(super) fn exec(
    ctx: &Arc<HostContext>,
    exec: handler::ExecRequest,
    upgrade: Option<OnUpgrade>,
    key: Option<String>,
) -> Response<Body> {
    let (Some(upgrade), Some(key)) = (upgrade, key) else {
        // The core checked the handshake; a connection that cannot upgrade gets its answer.
        return respond(exec.not_running);
    };
    let target = match ctx.allocations.exec_target(&exec.alloc_id, &exec.task) {
        Ok(target) => target,
        Err(_) => return respond(exec.not_running),
    };
    let label = target.label.clone();
    let (events_tx, events) = mpsc::channel(64);
    let started = crate::allocs::exec::start(target, exec.command, exec.tty, events_tx);
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(err) => {
                tracing::debug!("{label}: the upgrade failed: {err}");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        match started {
            Ok(process) => session(ws, process, events, &label).await,
            Err(err) => {
                tracing::info!("{label}: failed to start the command: {err}");
                let (mut tx, mut rx) = ws.split();
                close(&mut tx, &mut rx, CloseCode::Error, &err.to_string()).await;
            }
        }
    });
    let mut response = Response::new(full(Vec::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Move frames until the command has exited and its output is sent, or the client left.
async fn session<S>(
    ws: WebSocketStream<S>,
    mut process: Process,
    mut events: mpsc::Receiver<Event>,
    label: &str,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    let mut open = process.outputs;
    let mut exit_code: Option<i32> = None;
    let grace = tokio::time::sleep(Duration::MAX);
    tokio::pin!(grace);
    loop {
        if let (Some(code), 0) = (exit_code, open) {
            finish(&mut tx, &mut rx, code).await;
            return;
        }
        tokio::select! {
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => input(&mut process, text.as_bytes(), label),
                Some(Ok(Message::Binary(data))) => input(&mut process, &data, label),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    // The client went away: the command goes too (Process's drop kills it).
                    return;
                }
            },
            event = events.recv() => {
                let frame = match event {
                    Some(Event::Data(stream, data)) => frames::data_frame(stream, &data),
                    Some(Event::Closed(stream)) => {
                        open = open.saturating_sub(1);
                        frames::close_frame(stream)
                    }
                    Some(Event::Exited(code)) => {
                        exit_code = Some(code);
                        grace.as_mut().reset(tokio::time::Instant::now() + OUTPUT_GRACE);
                        continue;
                    }
                    None => {
                        finish(&mut tx, &mut rx, exit_code.unwrap_or(-1)).await;
                        return;
                    }
                };
                if tx.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            () = &mut grace, if exit_code.is_some() => {
                open = 0;
            }
        }
    }
}

/// The last frame, then a normal close (see [`close`]).
async fn finish<T, R>(tx: &mut T, rx: &mut R, code: i32)
where
    T: futures_util::Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let _ = tx.send(Message::text(frames::exited_frame(code))).await;
    close(tx, rx, CloseCode::Normal, "").await;
}

/// A close frame with `code` and `reason` (a failed start's reason, as Nomad sends it: its
/// clients print the text), then the client's close. Until the client has answered (or
/// [`CLOSE_GRACE`] has passed), what it still sends is read and dropped: closing the socket
/// with unread input makes the kernel reset the connection, and a client that had not yet
/// read the last frames (a `stdin` close crossing them is enough) would lose them.
async fn close<T, R>(tx: &mut T, rx: &mut R, code: CloseCode, reason: &str)
where
    T: futures_util::Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: close_reason(reason).into(),
        })))
        .await;
    let _ = tx.flush().await;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = rx.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
}

/// A close frame's reason holds at most 123 bytes (RFC 6455: a control frame's payload is
/// at most 125, two of them the code): longer ones are cut at a character boundary.
fn close_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    let mut end = reason.len().min(MAX);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn input(process: &mut Process, frame: &[u8], label: &str) {
    match frames::decode_input(frame) {
        Ok(Input::Stdin(data)) => process.write(data),
        Ok(Input::StdinClose) => process.close_stdin(),
        Ok(Input::TtySize { height, width }) => process.resize(height, width),
        Ok(Input::Other) => {}
        Err(err) => tracing::debug!("{label}: an exec frame ignored: {err}"),
    }
}

#[cfg(test)]
mod tests;
