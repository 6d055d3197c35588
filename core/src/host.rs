//! The core's view of the machine: plain types and one trait.
//!
//! The wasm glue implements [`Host`] with the component's imports; unit tests implement
//! it in memory. Keeping the logic behind this trait is what lets the same code run
//! natively in tests and as a component in any runtime.

use std::collections::BTreeMap;

mod acl;
mod stats;

pub use acl::*;
pub use stats::*;

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Whole seconds; negative before 1970.
    pub seconds: i64,
    /// Nanoseconds within the second (below 10^9).
    pub nanoseconds: u32,
}

impl Timestamp {
    /// Nanoseconds since the epoch, as Nomad's `Timestamp` fields carry them.
    pub fn unix_nanos(self) -> i64 {
        crate::wire::timefmt::unix_nanos(self.seconds, self.nanoseconds)
    }

    /// Go's RFC 3339 text with nanoseconds, as Nomad's JSON writes a `time.Time`.
    pub fn rfc3339_nano(self) -> String {
        crate::wire::timefmt::rfc3339_nano(self.seconds, self.nanoseconds)
    }
}

/// Bytes of a log file from `offset` on (up to the next mark) arrived at `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMark {
    /// The byte offset in the log file the mark starts at.
    pub offset: u64,
    /// When the bytes from `offset` arrived.
    pub time: Timestamp,
}

/// How severe a log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual the agent recovered from.
    Warn,
    /// A failure an operator should see.
    Error,
}

/// An allocation's client status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    /// Placed, no task started yet.
    Pending,
    /// At least one task runs.
    Running,
    /// Every task ended successfully.
    Complete,
    /// A task failed.
    Failed,
    /// Its node stopped reporting it (server view).
    Lost,
}

impl ClientStatus {
    /// Terminal allocations are the only ones garbage collection may remove.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }
}

/// A task's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Not started yet.
    Pending,
    /// Its process runs.
    Running,
    /// Ended, for good.
    Dead,
}

/// One task of an allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    /// The task's name in the group.
    pub name: String,
    /// Where it is in its lifecycle.
    pub state: TaskStatus,
    /// It ended in failure (or was killed as a failed task's sibling).
    pub failed: bool,
    /// When its current or last run started.
    pub started_at: Option<Timestamp>,
    /// When it ended; `None` while it may run again.
    pub finished_at: Option<Timestamp>,
    /// How often it was restarted in place.
    pub restarts: u32,
    /// When it was last restarted in place.
    pub last_restart: Option<Timestamp>,
}

/// An allocation placed on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The allocation id (a UUID).
    pub id: String,
    /// The job's namespace, which ACL checks read.
    pub namespace: String,
    /// The job it belongs to.
    pub job_id: String,
    /// The task group it runs.
    pub task_group: String,
    /// Its overall status, from its tasks'.
    pub client_status: ClientStatus,
    /// Each task's state, in the group's order.
    pub tasks: Vec<TaskState>,
}

/// Why the host did not collect an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// No allocation has this id (any more).
    NotFound,
    /// It is still pending or running.
    NotTerminal,
    /// A host fault.
    Io(String),
}

/// Why the host did not restart or signal a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// No allocation has this id (any more).
    NotFound,
    /// The allocation has no task of this name.
    UnknownTask,
    /// The task is not running.
    NotRunning,
    /// The allocation is terminal or stopping.
    Terminal,
    /// The host does not know this signal.
    UnknownSignal,
    /// A host fault.
    Io(String),
}

/// What `stat`/`lstat` report about one path.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The entry's name (its last path element).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Raw Unix `st_mode`.
    pub mode: u32,
    /// Last modification time.
    pub modified: Timestamp,
    /// Tells a file from another that replaced it under the same name.
    pub inode: u64,
}

/// Why a filesystem call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// Nothing at this path.
    NotFound,
    /// A path element is not a directory.
    NotADirectory,
    /// A file was expected, the path is a directory.
    IsADirectory,
    /// The path leaves the allocation directory (by `..` or a link).
    EscapesAllocDir,
    /// A task's `secrets/` directory, never served.
    SecretFile,
    /// A task's `private/` directory, never served.
    PrivateFile,
    /// Not a regular file (a socket, a device, a fifo).
    NotRegularFile,
    /// Another host fault, with its text.
    Io(String),
}

/// What a client may read about a failed file access: plain words, never a host path.
impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "no such file or directory",
            FsError::NotADirectory => "not a directory",
            FsError::IsADirectory => "is a directory",
            FsError::EscapesAllocDir => "path escapes the alloc directory",
            FsError::SecretFile => "reading secret file prohibited",
            FsError::PrivateFile => "reading private file prohibited",
            FsError::NotRegularFile => "not a regular file",
            FsError::Io(message) => message,
        })
    }
}

/// What one key of a metadata apply does to the dynamic metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaOp {
    /// Set the key to this value.
    Set(String),
    /// Hide a static key of the same name.
    Tombstone,
    /// Drop the dynamic key (a static one shows again).
    Remove,
}

/// Dynamic metadata: `None` is a tombstone hiding a static key.
pub type DynamicMeta = BTreeMap<String, Option<String>>;

/// What this agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// It runs as a server (`server { enabled }`).
    pub server: bool,
    /// It runs as a client (`client { enabled }`).
    pub client: bool,
    /// It serves the web UI (`ui { enabled }`).
    pub ui: bool,
}

/// A client node known to this agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// The node id (a UUID).
    pub id: String,
    /// The node's name.
    pub name: String,
    /// Its datacenter.
    pub datacenter: String,
    /// Where its HTTP API listens (`host:port`).
    pub http_addr: String,
    /// It heartbeats in time.
    pub ready: bool,
    /// `client { meta }`.
    pub static_meta: BTreeMap<String, String>,
    /// Metadata set through the API.
    pub dynamic_meta: DynamicMeta,
    /// Its last heartbeat.
    pub last_seen: Timestamp,
    /// The SHA-256 (hex) of the secret it registered with: see `wit/cluster.wit`.
    pub secret_sha256: Option<String>,
}

/// A client node as it describes itself when it registers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeRegistration {
    /// The node id (a UUID).
    pub id: String,
    /// The node's name.
    pub name: String,
    /// Its datacenter.
    pub datacenter: String,
    /// Where its HTTP API listens (`host:port`).
    pub http_addr: String,
    /// `client { meta }`.
    pub static_meta: BTreeMap<String, String>,
    /// Metadata set through the API.
    pub dynamic_meta: DynamicMeta,
}

/// One heartbeat: a node and every allocation it runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Registration {
    /// The node.
    pub node: NodeRegistration,
    /// Every allocation it runs.
    pub allocations: Vec<Allocation>,
    /// With mutual TLS, the heartbeat's certificate (SHA-256, hex): see `wit/cluster.wit`.
    pub certificate_sha256: Option<String>,
    /// The SHA-256 (hex) of the node's secret, its proof of identity: see `wit/cluster.wit`.
    pub secret_sha256: Option<String>,
}

/// An allocation and the node it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedAllocation {
    /// The node it runs on.
    pub node_id: String,
    /// The allocation.
    pub allocation: Allocation,
}

/// What a relayed read (`wit/relay.wit`) brought since the core last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrived {
    /// Nothing new yet: the stream is woken when there is.
    Pending,
    /// More of the body.
    Data(Vec<u8>),
    /// The body is complete.
    End,
    /// The node answered another status than 200, with this text.
    Refused(u16, String),
    /// The node could not be reached, or the connection broke.
    Failed(String),
}

/// Everything the core may ask of the machine.
pub trait Host {
    /// Interest in a path's changes, held by a stream and dropped with it.
    type Watch;
    /// A directory listing being read a page at a time (`list`), dropped when done.
    type Listing;

    /// Write to the agent's log.
    fn log(&self, level: LogLevel, message: &str);

    /// This node's id.
    fn node_id(&self) -> String;
    /// `client { meta }`, fixed at start.
    fn static_meta(&self) -> BTreeMap<String, String>;
    /// Metadata set through the API (tombstones included).
    fn dynamic_meta(&self) -> DynamicMeta;
    /// Apply metadata changes atomically; the result, or a host fault.
    fn apply_meta(&self, changes: Vec<(String, MetaOp)>) -> Result<DynamicMeta, String>;

    /// One allocation of this node.
    fn allocation(&self, id: &str) -> Option<Allocation>;
    /// Every allocation of this node.
    fn allocations(&self) -> Vec<Allocation>;
    /// Garbage-collect a terminal allocation.
    fn collect(&self, id: &str) -> Result<(), CollectError>;
    /// Restart one task in place, or (`None`) every running task.
    fn restart(&self, alloc_id: &str, task: Option<&str>) -> Result<(), LifecycleError>;
    /// Send a named signal to one task, or (`None`) every running task.
    fn signal(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), LifecycleError>;

    /// `lstat` of a path inside the allocation directory.
    fn stat(&self, alloc_id: &str, path: &str) -> Result<FileInfo, FsError>;
    /// Open the listing of a directory; its entries come from [`Host::list_next`].
    fn list(&self, alloc_id: &str, path: &str) -> Result<Self::Listing, FsError>;
    /// Up to `max` more entries of `listing`, as `lstat` reports them, in byte order of their
    /// names; fewer than `max` only when the listing is complete.
    fn list_next(&self, listing: &Self::Listing, max: u32) -> Result<Vec<FileInfo>, FsError>;
    /// Up to `length` bytes of a file from `offset` (fewer at its end).
    fn read_at(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, FsError>;

    /// When the parts of log file `path` covering bytes `from..to` arrived: the last mark at
    /// or before `from`, then every later mark before `to`; empty when no times were kept.
    fn log_marks(
        &self,
        alloc_id: &str,
        path: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<LogMark>, FsError>;
    /// The host's wall clock, the one log marks are recorded with.
    fn now(&self) -> Timestamp;

    /// Wake the current stream when `path` (a file, or a directory's entries) changes.
    fn watch(&self, alloc_id: &str, path: &str) -> Result<Self::Watch, FsError>;

    /// A host-wide sample; `None` until the first is taken.
    fn host_stats(&self) -> Option<HostStats>;

    /// What this agent runs.
    fn roles(&self) -> Roles;
    /// A client node a server knows (servers only).
    fn node(&self, id: &str) -> Option<NodeInfo>;
    /// Every client node a server knows.
    fn nodes(&self) -> Vec<NodeInfo>;
    /// An allocation on any known node, and which.
    fn find_allocation(&self, id: &str) -> Option<PlacedAllocation>;
    /// Every allocation on every known node.
    fn all_allocations(&self) -> Vec<PlacedAllocation>;
    /// Record a client's heartbeat (servers only); the error is a host fault.
    fn register(&self, registration: Registration) -> Result<(), String>;
    /// Start a GET of `target` on node `node_id` with the caller's token (servers only); the
    /// stream takes what arrives with [`Host::relay_take`] and is woken when it does.
    fn relay_open(&self, node_id: &str, target: &str, token: Option<&str>) -> Result<u32, String>;
    /// What the relayed read `id` brought since the last call.
    fn relay_take(&self, id: u32) -> Arrived;
    /// End the relayed read `id`.
    fn relay_close(&self, id: u32);

    /// Whether ACLs are enforced.
    fn acl_enabled(&self) -> bool;
    /// The token a secret names.
    fn resolve_token(&self, secret_id: &str) -> Result<Token, ResolveError>;
    /// The compiled policies with these names (missing or invalid ones left out).
    fn policies(&self, names: &[String]) -> Vec<CompiledPolicy>;
    /// Mint and store the first management token.
    fn bootstrap(&self) -> Result<MintedToken, BootstrapError>;
    /// Every policy (files' and the API's). The writes below are the ACL API's; their
    /// errors are host faults.
    fn list_policies(&self) -> Vec<PolicyDocument>;
    /// Store a policy (the API's), with its compiled form.
    fn put_policy(&self, policy: PolicyDocument, compiled: CompiledPolicy) -> Result<(), String>;
    /// `false` when there was none.
    fn delete_policy(&self, name: &str) -> Result<bool, String>;
    /// Every token, without secrets.
    fn list_tokens(&self) -> Vec<Token>;
    /// Store a new token; the host mints its ids and sets its indexes.
    fn create_token(&self, token: Token) -> Result<MintedToken, String>;
    /// Replace a token's fields (not its secret); `None` when there is none.
    fn update_token(&self, token: Token) -> Result<Option<Token>, String>;
    /// `false` when there was none.
    fn delete_token(&self, accessor_id: &str) -> Result<bool, String>;
    /// The latest usage sample of each running task of an allocation.
    fn allocation_usage(&self, alloc_id: &str) -> Vec<TaskUsage>;
}
