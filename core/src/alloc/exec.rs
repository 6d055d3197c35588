//! `GET /v1/client/allocation/:id/exec`: run a command in a task's environment over a
//! WebSocket, as `nomad alloc exec` does.
//!
//! The core decides everything before the upgrade: the allocation (404), `alloc-exec` on
//! its namespace (403), Nomad's query parameters (`task`, `command` as a JSON array, `tty`),
//! `alloc-node-exec` (caravan's tasks run as host processes without filesystem isolation,
//! which is when Nomad requires it), the task's state, and that the request is a WebSocket
//! handshake. The host then answers the upgrade and runs the command.
//!
//! The frames (Nomad's `ExecStreamingInput` / `ExecStreamingOutput` in JSON) are encoded and
//! decoded by the functions at the bottom of this file, which the host links natively (as it
//! does the token parser): a session's frames never pass through the wasm core.

use serde_json::Value;

use crate::acl::Requirement;
use crate::acl::access::Access;
use crate::host::{Host, TaskStatus};
use crate::http::{ApiError, ApiResult, ExecRequest, Request};
use crate::wire::params::{Query, go_quote, parse_bool};

/// Nomad's `taskNotPresentErr`.
pub const NO_TASK: &str = "must provide task name";
/// Nomad's refusal of an empty command.
pub const NO_COMMAND: &str = "command is not present";

/// Validate and authorise an exec request; the host upgrades and runs what it returns.
pub fn start(
    host: &impl Host,
    access: &Access,
    alloc_id: &str,
    req: &Request,
    query: &Query,
) -> ApiResult<ExecRequest> {
    let allocation = access.allocation(host, alloc_id)?;
    let command = parse_command(query.get("command").unwrap_or(""))?;
    let tty = match query.get("tty").filter(|t| !t.is_empty()) {
        None => false,
        Some(text) => parse_bool(text)
            .map_err(|e| ApiError::bad_request(format!("tty value is not a boolean: {e}")))?,
    };
    let task = query.get("task").unwrap_or("");
    if task.is_empty() {
        return Err(ApiError::bad_request(NO_TASK));
    }
    if command.is_empty() {
        return Err(ApiError::bad_request(NO_COMMAND));
    }
    // Every caravan task runs on the host without filesystem isolation (Nomad's
    // `FSIsolationNone`, as raw_exec): Nomad then also requires `alloc-node-exec`.
    let node_exec = Access {
        request: access.request,
        requirement: access
            .requirement
            .map(|_| Requirement::Namespace(&["alloc-node-exec"])),
    };
    node_exec.namespace(host, &allocation.namespace)?;
    let state = allocation
        .tasks
        .iter()
        .find(|t| t.name == task)
        .ok_or_else(|| ApiError::bad_request(format!("unknown task name {}", go_quote(task))))?;
    if state.started_at.is_none() {
        return Err(ApiError::not_found(format!(
            "task {} not started yet.",
            go_quote(task)
        )));
    }
    if state.state != TaskStatus::Running || allocation.client_status.is_terminal() {
        return Err(not_running(task));
    }
    handshake(req)?;
    Ok(ExecRequest {
        alloc_id: allocation.id,
        task: task.to_string(),
        command,
        tty,
        not_running: not_running(task).into_response(),
    })
}

/// Nomad's answer when the task has no exec handler (it is not running).
fn not_running(task: &str) -> ApiError {
    ApiError::not_found(format!("task {} is not running.", go_quote(task)))
}

/// Nomad decodes `command` with `json.Unmarshal` into a `[]string`.
fn parse_command(text: &str) -> ApiResult<Vec<String>> {
    let fail =
        |why: String| ApiError::bad_request(format!("failed to marshal command into json: {why}"));
    if text.trim().is_empty() {
        return Err(fail("unexpected end of JSON input".into()));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(fail(format!(
                    "json: cannot unmarshal {} into Go value of type string",
                    crate::wire::json::go_type(&other)
                ))),
            })
            .collect(),
        other => Err(fail(format!(
            "json: cannot unmarshal {} into Go value of type []string",
            crate::wire::json::go_type(&other)
        ))),
    }
}

/// The WebSocket handshake (RFC 6455), with the texts of the upgrader Nomad uses.
fn handshake(req: &Request) -> ApiResult<()> {
    const NOT_WS: &str = "websocket: the client is not using the websocket protocol: ";
    let has_token = |name: &str, token: &str| {
        req.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token("connection", "upgrade") {
        return Err(ApiError::bad_request(format!(
            "{NOT_WS}'upgrade' token not found in 'Connection' header"
        )));
    }
    if !has_token("upgrade", "websocket") {
        return Err(ApiError::bad_request(format!(
            "{NOT_WS}'websocket' token not found in 'Upgrade' header"
        )));
    }
    if req.method != "GET" {
        return Err(ApiError {
            status: 405,
            message: format!("{NOT_WS}request method is not GET"),
        });
    }
    if !has_token("sec-websocket-version", "13") {
        return Err(ApiError::bad_request(
            "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
        ));
    }
    let key_ok = req.header("sec-websocket-key").is_some_and(|key| {
        use ::base64::Engine as _;
        ::base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .is_ok_and(|k| k.len() == 16)
    });
    if !key_ok {
        return Err(ApiError::bad_request(
            "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length",
        ));
    }
    Ok(())
}

/// One frame from the client (Nomad's `ExecStreamingInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for the command's standard input.
    Stdin(Vec<u8>),
    /// The client's standard input ended.
    StdinClose,
    /// The client's terminal size changed.
    TtySize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Anything else (Nomad's client sends `{}` as a heartbeat): ignored.
    Other,
}

/// Decode a client frame; an error says what is wrong with it.
pub fn decode_input(text: &[u8]) -> Result<Input, String> {
    use ::base64::Engine as _;
    let value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let Value::Object(object) = value else {
        return Err("an exec frame is a JSON object".into());
    };
    if let Some(Value::Object(stdin)) = object.get("stdin") {
        if let Some(Value::String(data)) = stdin.get("data") {
            let bytes = ::base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| format!("stdin data: {e}"))?;
            if !bytes.is_empty() {
                return Ok(Input::Stdin(bytes));
            }
        }
        if stdin.get("close") == Some(&Value::Bool(true)) {
            return Ok(Input::StdinClose);
        }
        return Ok(Input::Other);
    }
    if let Some(Value::Object(size)) = object.get("tty_size") {
        let dim = |name: &str| {
            size.get(name)
                .and_then(Value::as_u64)
                .map(|v| u16::try_from(v).unwrap_or(u16::MAX))
                .unwrap_or(0)
        };
        return Ok(Input::TtySize {
            height: dim("height"),
            width: dim("width"),
        });
    }
    Ok(Input::Other)
}

/// Which output stream a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Stdout => "stdout",
            Output::Stderr => "stderr",
        }
    }
}

/// `{"stdout":{"data":"<base64>"}}`.
pub fn data_frame(stream: Output, data: &[u8]) -> String {
    let mut out = format!("{{\"{}\":{{\"data\":\"", stream.name()).into_bytes();
    crate::wire::b64::encode_into(&mut out, data);
    out.extend_from_slice(b"\"}}");
    // Base64 and the fixed text are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// `{"stdout":{"close":true}}`: the stream ended.
pub fn close_frame(stream: Output) -> String {
    format!("{{\"{}\":{{\"close\":true}}}}", stream.name())
}

/// `{"exited":true,"result":{"exit_code":N}}`: the last frame of a session.
pub fn exited_frame(exit_code: i32) -> String {
    format!("{{\"exited\":true,\"result\":{{\"exit_code\":{exit_code}}}}}")
}

#[cfg(test)]
mod tests;
