//! Requests, responses and the one error type, mapped to a status and body in one place.

use crate::wire::params::Query;

/// An HTTP request as the host received it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper case, as sent (`GET`, `POST`, …).
    pub method: String,
    /// Still percent-encoded, without the query.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Lower-case names, arrival order.
    pub headers: Vec<(String, String)>,
    /// The whole body, already read.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header (names are lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Names as written, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with a JSON body encoded by Nomad's rules.
    pub fn json(value: &serde_json::Value, query: &Query) -> Self {
        Self::json_encoded(crate::wire::json::to_vec(value, pretty(query)))
    }

    /// 200 with a body already encoded by Nomad's JSON rules.
    pub fn json_encoded(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        }
    }

    /// 200 with no body and no Content-Type, as Nomad answers GC requests.
    pub fn empty() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Nomad's `?pretty`: on when the key is present and its first value is not `0`.
pub(crate) fn pretty(query: &Query) -> bool {
    query.has("pretty") && query.get("pretty") != Some("0")
}

/// Send a byte range of an allocation file; the host copies the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFile {
    /// The allocation the file belongs to.
    pub alloc_id: String,
    /// The file's path inside the allocation directory.
    pub path: String,
    /// Where the range starts.
    pub offset: u64,
    /// How many bytes at most; `None`: to the end.
    pub limit: Option<u64>,
    /// The response's headers (the host adds the length).
    pub headers: Vec<(String, String)>,
    /// The answer when the file is gone by the time the host opens it.
    pub vanished: Response,
}

/// Relay the request to a client node, or answer `unreachable` when it cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTo {
    /// The node that holds the allocation.
    pub node_id: String,
    /// The answer when the node cannot be reached.
    pub unreachable: Response,
}

/// Answer a WebSocket upgrade and run a command in a task's environment (`alloc exec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The allocation the task belongs to.
    pub alloc_id: String,
    /// The task to run the command in.
    pub task: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Run it on a terminal (`tty=true`).
    pub tty: bool,
    /// The answer when the task is no longer running by the time the host starts it.
    pub not_running: Response,
}

/// A streamed response: status and headers now, the body pulled from `body`.
///
/// The body's type is the route layer's choice (`stream::Stream`): this vocabulary only
/// says that a streamed answer has one, so it needs nothing from the modules above it.
pub struct StreamStart<B> {
    /// The HTTP status code.
    pub status: u16,
    /// Names as written, in order.
    pub headers: Vec<(String, String)>,
    /// Where the body's bytes come from.
    pub body: B,
}

impl<B> StreamStart<B> {
    /// A 200 stream of `content_type`, with the headers that keep reverse proxies from
    /// holding it back (nginx buffers a response unless told `X-Accel-Buffering: no`, others
    /// cache without `Cache-Control: no-cache`; hashicorp/nomad#14056): every streamed
    /// answer starts here.
    pub fn ok(content_type: &str, body: B) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Cache-Control".into(), "no-cache".into()),
                ("X-Accel-Buffering".into(), "no".into()),
            ],
            body,
        }
    }
}

/// What one pull of a streamed body yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Bytes to send now.
    Data(Vec<u8>),
    /// Nothing yet: pull again after this many milliseconds, or when the watch fires.
    Wait(u32),
    /// The body is complete.
    End,
}

/// How the host answers a request; `B` is the body of a streamed answer.
pub enum Action<B> {
    /// Answer with this complete response.
    Respond(Response),
    /// Answer with a byte range of a file the host copies.
    SendFile(SendFile),
    /// Answer with a stream the host pulls from the core.
    Stream(StreamStart<B>),
    /// Relay the request to a client node.
    Forward(ForwardTo),
    /// Upgrade to a WebSocket and run a command in a task (`alloc exec`).
    Exec(ExecRequest),
}

impl<B> std::fmt::Debug for Action<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Respond(r) => f.debug_tuple("Respond").field(r).finish(),
            Action::SendFile(s) => f.debug_tuple("SendFile").field(s).finish(),
            Action::Stream(s) => f
                .debug_struct("Stream")
                .field("headers", &s.headers)
                .finish(),
            Action::Forward(to) => f.debug_tuple("Forward").field(&to.node_id).finish(),
            Action::Exec(exec) => f.debug_tuple("Exec").field(exec).finish(),
        }
    }
}

/// Every error the API reports: a status and Nomad's plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The plain-text body, Nomad's words where Nomad has them.
    pub message: String,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    /// A 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            message: message.into(),
        }
    }

    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            message: message.into(),
        }
    }

    /// Nomad's answer to a method a route does not take.
    pub fn invalid_method() -> Self {
        Self {
            status: 405,
            message: "Invalid method".into(),
        }
    }

    /// A 501 with `message`: a route caravan does not implement.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self {
            status: 501,
            message: message.into(),
        }
    }

    /// A host fault: the only source of 500s.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            message: message.into(),
        }
    }

    /// The single place an error becomes bytes on the wire (no trailing newline, as Nomad).
    pub fn into_response(self) -> Response {
        let headers = if self.message.is_empty() {
            Vec::new()
        } else {
            vec![("Content-Type".into(), "text/plain; charset=utf-8".into())]
        };
        Response {
            status: self.status,
            headers,
            body: self.message.into_bytes(),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
