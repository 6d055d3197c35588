//! The vector format (`docs/vectors.md`) as the runner reads it; unknown fields are refused so
//! a typo cannot silently turn an expectation off.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VectorFile {
    #[serde(default, rename = "description")]
    pub(crate) _description: IgnoredAny,
    pub(crate) fixture: Fixture,
    pub(crate) vectors: Vec<Value>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fixture {
    pub(crate) node_id: String,
    #[serde(default)]
    pub(crate) static_meta: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) dynamic_meta: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub(crate) allocations: Vec<AllocFixture>,
    #[serde(default)]
    pub(crate) host_stats: Option<HostStatsFixture>,
    #[serde(default)]
    pub(crate) task_usage: BTreeMap<String, Vec<TaskUsageFixture>>,
    #[serde(default)]
    pub(crate) acl: AclFixture,
    #[serde(default)]
    pub(crate) faults: Faults,
    #[serde(default)]
    pub(crate) roles: Option<RolesFixture>,
    #[serde(default = "default_modified")]
    pub(crate) modified: Time,
    #[serde(default = "default_now")]
    pub(crate) now: Time,
}

pub(crate) fn default_now() -> Time {
    Time {
        seconds: 1_800_000_000,
        nanoseconds: 0,
    }
}

pub(crate) fn default_modified() -> Time {
    Time {
        seconds: 1_700_000_000,
        nanoseconds: 500_000_000,
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct Time {
    pub(crate) seconds: i64,
    pub(crate) nanoseconds: u32,
}

impl From<Time> for types::Timestamp {
    fn from(t: Time) -> Self {
        types::Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolesFixture {
    pub(crate) server: bool,
    pub(crate) client: bool,
    /// `cluster.roles().ui`: the web UI is served (default: yes, as an agent's default).
    #[serde(default = "yes")]
    pub(crate) ui: bool,
}

pub(crate) fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllocFixture {
    pub(crate) id: String,
    #[serde(default = "default_namespace")]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) job_id: String,
    #[serde(default)]
    pub(crate) task_group: String,
    #[serde(default = "default_client_status")]
    pub(crate) client_status: String,
    #[serde(default)]
    pub(crate) tasks: Vec<TaskFixture>,
    #[serde(default)]
    pub(crate) files: Vec<FileFixture>,
}

pub(crate) fn default_namespace() -> String {
    "default".into()
}

pub(crate) fn default_client_status() -> String {
    "running".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskFixture {
    pub(crate) name: String,
    #[serde(default = "default_client_status")]
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) failed: bool,
    #[serde(default)]
    pub(crate) started_at: Option<Time>,
    #[serde(default)]
    pub(crate) finished_at: Option<Time>,
    #[serde(default)]
    pub(crate) restarts: u32,
    #[serde(default)]
    pub(crate) last_restart: Option<Time>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileFixture {
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) base64: Option<String>,
    #[serde(default)]
    pub(crate) dir: bool,
    #[serde(default)]
    pub(crate) symlink: Option<String>,
    #[serde(default)]
    pub(crate) fifo: bool,
    #[serde(default)]
    pub(crate) perm: Option<String>,
    #[serde(default)]
    pub(crate) inode: Option<u64>,
    #[serde(default)]
    pub(crate) modified: Option<Time>,
    #[serde(default)]
    pub(crate) read_error: Option<String>,
    #[serde(default)]
    pub(crate) marks: Option<Vec<MarkFixture>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkFixture {
    pub(crate) offset: u64,
    pub(crate) time: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostStatsFixture {
    pub(crate) memory: MemoryFixture,
    pub(crate) cpu: Vec<CpuFixture>,
    pub(crate) disks: Vec<DiskFixture>,
    pub(crate) alloc_dir: DiskFixture,
    pub(crate) uptime: u64,
    pub(crate) cpu_ticks_consumed: f64,
    pub(crate) taken_at: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryFixture {
    pub(crate) total: u64,
    pub(crate) available: u64,
    pub(crate) used: u64,
    pub(crate) free: u64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct CpuFixture {
    pub(crate) name: String,
    pub(crate) user: f64,
    pub(crate) system: f64,
    pub(crate) idle: f64,
    pub(crate) total_percent: f64,
    pub(crate) total_ticks: f64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskFixture {
    pub(crate) device: String,
    pub(crate) mountpoint: String,
    pub(crate) size: u64,
    pub(crate) used: u64,
    pub(crate) available: u64,
    pub(crate) used_percent: f64,
    pub(crate) inodes_used_percent: f64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskUsageFixture {
    pub(crate) task: String,
    pub(crate) processes: Vec<ProcessFixture>,
    pub(crate) taken_at: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessFixture {
    pub(crate) pid: u32,
    pub(crate) rss: u64,
    pub(crate) swap: u64,
    pub(crate) cpu_percent: f64,
    pub(crate) user_mode: f64,
    pub(crate) system_mode: f64,
    pub(crate) total_ticks: f64,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AclFixture {
    #[serde(default)]
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) tokens: Vec<TokenFixture>,
    /// Policy documents by name, compiled by the core under test before each vector runs.
    #[serde(default)]
    pub(crate) policies: BTreeMap<String, String>,
    /// The token `bootstrap` mints.
    #[serde(default)]
    pub(crate) bootstrap: Option<BootstrapFixture>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct BootstrapFixture {
    pub(crate) accessor_id: String,
    pub(crate) secret: String,
    pub(crate) create_time: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenFixture {
    pub(crate) secret: String,
    pub(crate) accessor_id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) token_type: String,
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    pub(crate) create_time: Time,
    #[serde(default)]
    pub(crate) expiration_time: Option<Time>,
    #[serde(default)]
    pub(crate) expired: bool,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Faults {
    #[serde(default)]
    pub(crate) apply_meta: Option<String>,
    #[serde(default)]
    pub(crate) collect: Option<CollectFault>,
    #[serde(default)]
    pub(crate) bootstrap: Option<String>,
    #[serde(default)]
    pub(crate) lifecycle: Option<LifecycleFault>,
}

/// How `restart` and `signal` fail: `"not-running"` and the other cases, or `{"io": "message"}`.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum LifecycleFault {
    NotFound,
    UnknownTask,
    NotRunning,
    Terminal,
    UnknownSignal,
    Io(String),
}

/// How `collect` fails: `"not-found"`, `"not-terminal"` or `{"io": "message"}`.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum CollectFault {
    NotFound,
    NotTerminal,
    Io(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vector {
    /// Required, though read from the raw JSON (see `vector_name`) so malformed vectors are named.
    #[serde(rename = "name")]
    pub(crate) _name: String,
    #[serde(default, rename = "why")]
    pub(crate) _why: IgnoredAny,
    #[serde(default)]
    pub(crate) request: Option<RequestSpec>,
    #[serde(default)]
    pub(crate) compile_policy: Option<PolicySource>,
    #[serde(default)]
    pub(crate) steps: Vec<StepSpec>,
    pub(crate) expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestSpec {
    #[serde(default = "default_method")]
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) query: String,
    #[serde(default)]
    pub(crate) headers: Vec<(String, String)>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) body_base64: Option<String>,
}

pub(crate) fn default_method() -> String {
    "GET".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicySource {
    pub(crate) name: String,
    pub(crate) text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepSpec {
    #[serde(default)]
    pub(crate) pull: Option<u64>,
    #[serde(default)]
    pub(crate) expect: Option<Value>,
    #[serde(default)]
    pub(crate) append: Option<FileChange>,
    #[serde(default)]
    pub(crate) write: Option<FileChange>,
    #[serde(default)]
    pub(crate) replace: Option<FileChange>,
    #[serde(default)]
    pub(crate) remove: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileChange {
    pub(crate) path: String,
    pub(crate) text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    #[serde(default)]
    pub(crate) respond: Option<ExpectResponse>,
    #[serde(default)]
    pub(crate) send_file: Option<ExpectSendFile>,
    #[serde(default)]
    pub(crate) stream: Option<ExpectStream>,
    #[serde(default)]
    pub(crate) exec: Option<ExpectExec>,
    #[serde(default)]
    pub(crate) compiled: Option<ExpectPolicy>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<ExpectState>,
    #[serde(default)]
    pub(crate) logs: Option<Vec<(String, String)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) body_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectExec {
    pub(crate) alloc_id: String,
    pub(crate) task: String,
    pub(crate) command: Vec<String>,
    pub(crate) tty: bool,
    pub(crate) not_running: ExpectResponse,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectSendFile {
    pub(crate) alloc_id: String,
    pub(crate) path: String,
    pub(crate) offset: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) headers: Vec<(String, String)>,
    #[serde(default)]
    pub(crate) vanished: Option<ExpectResponse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectStream {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    #[serde(default)]
    pub(crate) watched: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectPolicy {
    pub(crate) name: String,
    pub(crate) namespaces: Vec<ExpectRule>,
    pub(crate) node: Option<String>,
    pub(crate) agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectRule {
    pub(crate) pattern: String,
    pub(crate) capabilities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectState {
    #[serde(default)]
    pub(crate) dynamic_meta: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub(crate) collected: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) registered: Option<Vec<Value>>,
    #[serde(default)]
    pub(crate) lifecycle: Option<Vec<Value>>,
    #[serde(default)]
    pub(crate) bootstrapped: Option<bool>,
}
