//! `caravan alloc exec [-task T] [-i=true] [-t] ALLOC CMD ARGS...`: Nomad's `nomad alloc
//! exec` against the agent at `NOMAD_ADDR` (TLS and `NOMAD_TOKEN` as every command): a
//! WebSocket to `/v1/client/allocation/:id/exec`, standard input sent as frames, the
//! frames' output written to stdout and stderr, and the remote exit code as its own.

use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::Usage;
use super::api::{Api, encode, with_query};
use super::flags::WrongArguments;
use super::flags::{Flag, Kind, Parsed};
use crate::http_client::{self, Agent};

pub const EXEC: Usage = Usage {
    usage: "caravan alloc exec [options] <allocation> <command> [<args>...]",
    about: "Run a command in a running task's environment and working directory, its input\n\
            and output attached to this terminal; exit with the command's exit code.\n\
            Flags go before the allocation: the rest is the command.",
    flags: &[
        Flag {
            name: "task",
            kind: Kind::Value("name"),
            help: "The task (may be left out when the allocation has only one)",
        },
        Flag {
            name: "i",
            kind: Kind::Bool,
            help: "Send standard input to the command (default true; -i=false: none)",
        },
        Flag {
            name: "t",
            kind: Kind::Bool,
            help: "Run the command on a terminal (default: when stdin is one)",
        },
    ],
};

/// A parsed `alloc exec`.
#[derive(Debug, PartialEq, Eq)]
pub struct Exec {
    pub alloc: String,
    pub task: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub command: Vec<String>,
}

/// `alloc exec`'s parsed form (its flags end at the allocation: the rest is the command).
pub fn parse(parsed: &Parsed) -> Result<Exec> {
    let [alloc, command @ ..] = parsed.free() else {
        return Err(WrongArguments.into());
    };
    if command.is_empty() {
        return Err(WrongArguments.into());
    }
    let given = |name: &str| parsed.given(name);
    Ok(Exec {
        alloc: alloc.clone(),
        task: parsed.value("task"),
        stdin: if given("i") { parsed.bool("i")? } else { true },
        tty: if given("t") {
            parsed.bool("t")?
        } else {
            rustix::termios::isatty(std::io::stdin())
        },
        command: command.to_vec(),
    })
}

/// Run the session; the remote exit code.
pub fn run(exec: Exec, target: &super::Target) -> Result<u8> {
    let api = Api::new(target)?;
    let alloc = api.allocation(&exec.alloc)?;
    let id = alloc["ID"]
        .as_str()
        .context("the agent's allocation has no ID")?
        .to_string();
    let task = super::api::pick_task(&alloc, exec.task.as_deref())?;
    let path = with_query(
        &format!("/v1/client/allocation/{}/exec", encode(&id)),
        &[
            ("task", task),
            ("command", serde_json::to_string(&exec.command)?),
            ("tty", exec.tty.to_string()),
        ],
    );
    let code = http_client::block_on(session(api.agent(), &path, exec.stdin, exec.tty))?;
    Ok(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

async fn session(agent: &Agent, path: &str, stdin: bool, tty: bool) -> Result<i64> {
    let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
    let mut headers = vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key.as_str()),
    ];
    if let Some(token) = &agent.token {
        headers.push(("X-Nomad-Token", token.as_str()));
    }
    let request = http_client::request("GET", &agent.target(path), &headers, "")?;
    let response = agent
        .send(request)
        .await
        .with_context(|| format!("failed to reach the agent at {}", agent.host))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let reply = http_client::Reply::read(response).await?;
        let text = String::from_utf8_lossy(&reply.body);
        bail!(
            "Unexpected response code: {} ({})",
            reply.status.as_u16(),
            text.trim()
        );
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .context("the agent did not switch to a WebSocket")?;
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    let (mut tx, mut rx) = ws.split();
    let (input_tx, mut input) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    let raw = tty.then(RawTerminal::enter).flatten();
    if stdin {
        // Standard input on a thread of its own: a blocking read never stalls the output.
        std::thread::Builder::new()
            .name("exec-stdin".into())
            .spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                let mut stdin = std::io::stdin();
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            let _ = input_tx.blocking_send(None);
                            return;
                        }
                        Ok(n) => {
                            if input_tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                    }
                }
            })?;
    } else {
        let _ = input_tx.try_send(None);
    }
    if tty && let Some((height, width)) = terminal_size() {
        tx.send(Message::text(
            json!({"tty_size": {"height": height, "width": width}}).to_string(),
        ))
        .await?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut input_open = true;
    let result = loop {
        tokio::select! {
            chunk = input.recv(), if input_open => {
                let frame = match chunk.flatten() {
                    Some(data) => json!({"stdin": {"data": b64.encode(data)}}),
                    None => {
                        input_open = false;
                        json!({"stdin": {"close": true}})
                    }
                };
                tx.send(Message::text(frame.to_string())).await?;
            }
            message = rx.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    // A failed start's reason comes in the close frame, as from Nomad,
                    // whose CLI prints it the same way.
                    Some(Ok(Message::Close(Some(close)))) if !close.reason.is_empty() => {
                        break Err(anyhow!("failed to exec into task: {}", close.reason));
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        break Err(anyhow!("the session ended without an exit code"));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => break Err(anyhow!("the session failed: {err}")),
                };
                let frame: Value = serde_json::from_str(text.as_str())
                    .context("the agent sent a frame that is not JSON")?;
                if frame["exited"] == true {
                    break Ok(frame["result"]["exit_code"].as_i64().unwrap_or(0));
                }
                for name in ["stdout", "stderr"] {
                    if let Some(data) = frame[name]["data"].as_str() {
                        let data = b64.decode(data).context("bad base64 in a frame")?;
                        if name == "stdout" {
                            let mut out = std::io::stdout().lock();
                            out.write_all(&data)?;
                            out.flush()?;
                        } else {
                            let mut err = std::io::stderr().lock();
                            err.write_all(&data)?;
                            err.flush()?;
                        }
                    }
                }
            }
        }
    };
    drop(raw);
    let _ = tx.close().await;
    result
}

/// The local terminal's size, when stdout is one.
fn terminal_size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    Some((size.ws_row, size.ws_col))
}

/// The local terminal in raw mode while a tty session runs (restored on drop), so keys go
/// to the remote terminal as typed.
struct RawTerminal(rustix::termios::Termios);

impl RawTerminal {
    fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.0,
        );
    }
}
