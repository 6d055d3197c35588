//! The core's view of the machine: plain types and one trait.
//!
//! The wasm glue implements [`Host`] with the component's imports; unit tests implement
//! it in memory. Keeping the logic behind this trait is what lets the same code run
//! natively in tests and as a component in any runtime.

use std::collections::BTreeMap;

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    pub seconds: i64,
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
    pub offset: u64,
    pub time: Timestamp,
}

/// How severe a log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// An allocation's client status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Pending,
    Running,
    Complete,
    Failed,
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
    Pending,
    Running,
    Dead,
}

/// One task of an allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub name: String,
    pub state: TaskStatus,
    pub failed: bool,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// How often it was restarted in place.
    pub restarts: u32,
    pub last_restart: Option<Timestamp>,
}

/// An allocation placed on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub id: String,
    pub namespace: String,
    pub job_id: String,
    pub task_group: String,
    pub client_status: ClientStatus,
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
    pub name: String,
    pub size: u64,
    /// Raw Unix `st_mode`.
    pub mode: u32,
    pub modified: Timestamp,
    /// Tells a file from another that replaced it under the same name.
    pub inode: u64,
}

/// Why a filesystem call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    NotADirectory,
    IsADirectory,
    EscapesAllocDir,
    SecretFile,
    PrivateFile,
    NotRegularFile,
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
    Set(String),
    Tombstone,
    Remove,
}

/// Dynamic metadata: `None` is a tombstone hiding a static key.
pub type DynamicMeta = BTreeMap<String, Option<String>>;

/// One logical CPU's use, in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuStats {
    pub name: String,
    pub user: f64,
    pub system: f64,
    pub idle: f64,
    pub total_percent: f64,
    pub total_ticks: f64,
}

/// Host memory in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryStats {
    pub total: u64,
    pub available: u64,
    pub used: u64,
    pub free: u64,
}

/// Usage of one filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskStats {
    pub device: String,
    pub mountpoint: String,
    pub size: u64,
    pub used: u64,
    pub available: u64,
    pub used_percent: f64,
    pub inodes_used_percent: f64,
}

/// A host-wide sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStats {
    pub memory: MemoryStats,
    pub cpu: Vec<CpuStats>,
    pub disks: Vec<DiskStats>,
    pub alloc_dir: DiskStats,
    pub uptime: u64,
    pub cpu_ticks_consumed: f64,
    pub taken_at: Timestamp,
}

/// One process of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessUsage {
    pub pid: u32,
    pub rss: u64,
    pub swap: u64,
    pub cpu_percent: f64,
    pub user_mode: f64,
    pub system_mode: f64,
    pub total_ticks: f64,
}

/// The latest sample of one running task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUsage {
    pub task: String,
    pub processes: Vec<ProcessUsage>,
    pub taken_at: Timestamp,
}

/// A token as the host stores it, without its secret.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Token {
    pub accessor_id: String,
    pub name: String,
    pub management: bool,
    pub policies: Vec<String>,
    pub create_time: Timestamp,
    pub expiration_time: Option<Timestamp>,
    /// Nomad's `ExpirationTTL` as given at creation, in nanoseconds (0: none).
    pub expiration_ttl: u64,
    pub global: bool,
    pub create_index: u64,
    pub modify_index: u64,
    /// From a file under the agent's `acl/tokens/`: the API cannot change it.
    pub from_file: bool,
}

/// A policy as stored: Nomad's `ACLPolicy` fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDocument {
    pub name: String,
    pub description: String,
    /// HCL or JSON, as given.
    pub rules: String,
    pub create_index: u64,
    pub modify_index: u64,
    /// From a file under the agent's `acl/policies/`: the API cannot change it.
    pub from_file: bool,
}

/// A management token `bootstrap` just minted, with its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct MintedToken {
    pub token: Token,
    pub secret_id: String,
}

/// Why `bootstrap` minted nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapError {
    /// A management token exists already.
    AlreadyDone,
    /// A host fault (the token could not be stored).
    Failed(String),
}

/// A coarse permission level (`node`, `agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    Deny,
    Read,
    Write,
}

/// The capabilities granted in namespaces matching `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRule {
    pub pattern: String,
    pub capabilities: Vec<String>,
}

/// A policy document after parsing and expansion (`acl::compile` makes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    pub name: String,
    pub namespaces: Vec<NamespaceRule>,
    pub node: Option<Disposition>,
    pub agent: Option<Disposition>,
}

/// Why a secret does not resolve to a usable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    NotFound,
    Expired,
}

/// What this agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub server: bool,
    pub client: bool,
    /// It serves the web UI (`ui { enabled }`).
    pub ui: bool,
}

/// A client node known to this agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub http_addr: String,
    pub ready: bool,
    pub static_meta: BTreeMap<String, String>,
    pub dynamic_meta: DynamicMeta,
    pub last_seen: Timestamp,
    /// The SHA-256 (hex) of the secret it registered with: see `wit/cluster.wit`.
    pub secret_sha256: Option<String>,
}

/// A client node as it describes itself when it registers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeRegistration {
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub http_addr: String,
    pub static_meta: BTreeMap<String, String>,
    pub dynamic_meta: DynamicMeta,
}

/// One heartbeat: a node and every allocation it runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Registration {
    pub node: NodeRegistration,
    pub allocations: Vec<Allocation>,
    /// With mutual TLS, the heartbeat's certificate (SHA-256, hex): see `wit/cluster.wit`.
    pub certificate_sha256: Option<String>,
    /// The SHA-256 (hex) of the node's secret, its proof of identity: see `wit/cluster.wit`.
    pub secret_sha256: Option<String>,
}

/// An allocation and the node it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedAllocation {
    pub node_id: String,
    pub allocation: Allocation,
}

/// What a relayed read (`wit/relay.wit`) brought since the core last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrived {
    Pending,
    Data(Vec<u8>),
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

    fn log(&self, level: LogLevel, message: &str);

    fn node_id(&self) -> String;
    fn static_meta(&self) -> BTreeMap<String, String>;
    fn dynamic_meta(&self) -> DynamicMeta;
    fn apply_meta(&self, changes: Vec<(String, MetaOp)>) -> Result<DynamicMeta, String>;

    fn allocation(&self, id: &str) -> Option<Allocation>;
    fn allocations(&self) -> Vec<Allocation>;
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

    fn stat(&self, alloc_id: &str, path: &str) -> Result<FileInfo, FsError>;
    /// Open the listing of a directory; its entries come from [`Host::list_next`].
    fn list(&self, alloc_id: &str, path: &str) -> Result<Self::Listing, FsError>;
    /// Up to `max` more entries of `listing`, as `lstat` reports them, in byte order of their
    /// names; fewer than `max` only when the listing is complete.
    fn list_next(&self, listing: &Self::Listing, max: u32) -> Result<Vec<FileInfo>, FsError>;
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

    fn host_stats(&self) -> Option<HostStats>;

    fn roles(&self) -> Roles;
    fn node(&self, id: &str) -> Option<NodeInfo>;
    fn nodes(&self) -> Vec<NodeInfo>;
    fn find_allocation(&self, id: &str) -> Option<PlacedAllocation>;
    fn all_allocations(&self) -> Vec<PlacedAllocation>;
    /// Record a client's heartbeat (servers only); the error is a host fault.
    fn register(&self, registration: Registration) -> Result<(), String>;
    /// Start a GET of `target` on node `node_id` with the caller's token (servers only); the
    /// stream takes what arrives with [`Host::relay_take`] and is woken when it does.
    fn relay_open(&self, node_id: &str, target: &str, token: Option<&str>) -> Result<u32, String>;
    fn relay_take(&self, id: u32) -> Arrived;
    fn relay_close(&self, id: u32);

    /// Whether ACLs are enforced.
    fn acl_enabled(&self) -> bool;
    fn resolve_token(&self, secret_id: &str) -> Result<Token, ResolveError>;
    /// The compiled policies with these names (missing or invalid ones left out).
    fn policies(&self, names: &[String]) -> Vec<CompiledPolicy>;
    /// Mint and store the first management token.
    fn bootstrap(&self) -> Result<MintedToken, BootstrapError>;
    /// Every policy (files' and the API's). The writes below are the ACL API's; their
    /// errors are host faults.
    fn list_policies(&self) -> Vec<PolicyDocument>;
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
    fn allocation_usage(&self, alloc_id: &str) -> Vec<TaskUsage>;
}
