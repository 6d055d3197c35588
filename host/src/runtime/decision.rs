//! What the HTTP layer needs of a core, whichever way it runs (a wasm component or the
//! natively linked baseline): one decision per request, and a body to pull for streams.
//! The HTTP layer sees only these types, never the engine.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::wit::{handler, types};

/// Something that answers API requests.
pub trait Core: Send + Sync + 'static {
    /// Decide one request. Blocking: call it off the async executor. An error is a trap or
    /// a host fault, never a user error (those are decided responses).
    fn decide(&self, request: &types::Request) -> anyhow::Result<Decided>;

    /// The version of the core deciding new requests now.
    fn version(&self) -> String;
}

/// A decision and the version of the core that made it.
pub struct Decided {
    /// What to do.
    pub decision: Decision,
    /// The core's version, for the response's `x-caravan-core` header.
    pub version: String,
}

/// What the core decided.
pub enum Decision {
    /// A whole response.
    Respond(types::Response),
    /// A file range the host copies itself (validated and authorised by the core).
    SendFile(handler::SendFile),
    /// A streamed body pulled from the core until it ends.
    Stream {
        /// The HTTP status code.
        status: u16,
        /// The headers.
        headers: Vec<types::Pair>,
        /// Where the body's bytes come from.
        body: Box<dyn Pull>,
    },
    /// Relay the request to a client node (server mode), or answer as the core said when
    /// the node cannot be reached.
    Forward(handler::ForwardTo),
    /// Answer a WebSocket upgrade and run a command in a task (`alloc exec`), or answer
    /// `not_running` when the task has stopped since the decision.
    Exec(handler::ExecRequest),
}

/// A streamed body: each pull answers data, a wait, or the end.
pub trait Pull: Send + 'static {
    /// The next part of the body. Blocking, like [`Core::decide`].
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step>;

    /// Woken when a path the stream follows changes.
    fn waker(&self) -> Arc<Notify>;
}
