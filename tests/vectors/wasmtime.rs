//! Runner 1 of the shared test vectors: the built core component on wasmtime.
//!
//! Each `tests/vectors/*.json` file (format: `docs/vectors.md`) holds a fixture of host state and
//! vectors (a request, or a policy to compile, and what must come back). Every vector runs in a
//! fresh store whose data is an in-memory host built from the fixture, so vectors never see each
//! other's changes. The same files run on Node through jco (`tests/jco`): the two in-memory hosts
//! follow the rules written in `docs/vectors.md`, so the same component must answer the same way
//! in both runtimes.
//!
//! A comparison that checked nothing would pass vacuously, so a second test changes every expected
//! value of every vector, one at a time, and requires each changed vector to fail.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use caravan::capabilities::follow::Subscription;
use caravan::wit::{
    Core, CorePre, acl, allocations, cluster, filesystem, follow, handler, log, node, policy,
    stats, types,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use wasmtime::component::{Component, HasSelf, Linker, Resource};
use wasmtime::{Config, Engine, Store};

/// Symlinks followed in one resolution before giving up, as Linux's `ELOOP` limit.
const MAX_SYMLINK_HOPS: u32 = 40;
/// Inodes of files created or replaced by a step start above the fixture's.
const STEP_INODE_BASE: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// The vector format (docs/vectors.md); unknown fields are refused so a typo cannot silently
// turn an expectation off.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    #[serde(default, rename = "description")]
    _description: IgnoredAny,
    fixture: Fixture,
    vectors: Vec<Value>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Fixture {
    node_id: String,
    #[serde(default)]
    static_meta: BTreeMap<String, String>,
    #[serde(default)]
    dynamic_meta: BTreeMap<String, Option<String>>,
    #[serde(default)]
    allocations: Vec<AllocFixture>,
    #[serde(default)]
    host_stats: Option<HostStatsFixture>,
    #[serde(default)]
    task_usage: BTreeMap<String, Vec<TaskUsageFixture>>,
    #[serde(default)]
    acl: AclFixture,
    #[serde(default)]
    faults: Faults,
    #[serde(default)]
    roles: Option<RolesFixture>,
    #[serde(default = "default_modified")]
    modified: Time,
    #[serde(default = "default_now")]
    now: Time,
}

fn default_now() -> Time {
    Time {
        seconds: 1_800_000_000,
        nanoseconds: 0,
    }
}

fn default_modified() -> Time {
    Time {
        seconds: 1_700_000_000,
        nanoseconds: 500_000_000,
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Time {
    seconds: i64,
    nanoseconds: u32,
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
struct RolesFixture {
    server: bool,
    client: bool,
    /// `cluster.roles().ui`: the web UI is served (default: yes, as an agent's default).
    #[serde(default = "yes")]
    ui: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct AllocFixture {
    id: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default)]
    job_id: String,
    #[serde(default)]
    task_group: String,
    #[serde(default = "default_client_status")]
    client_status: String,
    #[serde(default)]
    tasks: Vec<TaskFixture>,
    #[serde(default)]
    files: Vec<FileFixture>,
}

fn default_namespace() -> String {
    "default".into()
}

fn default_client_status() -> String {
    "running".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TaskFixture {
    name: String,
    #[serde(default = "default_client_status")]
    state: String,
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    started_at: Option<Time>,
    #[serde(default)]
    finished_at: Option<Time>,
    #[serde(default)]
    restarts: u32,
    #[serde(default)]
    last_restart: Option<Time>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct FileFixture {
    path: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    dir: bool,
    #[serde(default)]
    symlink: Option<String>,
    #[serde(default)]
    fifo: bool,
    #[serde(default)]
    perm: Option<String>,
    #[serde(default)]
    inode: Option<u64>,
    #[serde(default)]
    modified: Option<Time>,
    #[serde(default)]
    read_error: Option<String>,
    #[serde(default)]
    marks: Option<Vec<MarkFixture>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct MarkFixture {
    offset: u64,
    time: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct HostStatsFixture {
    memory: MemoryFixture,
    cpu: Vec<CpuFixture>,
    disks: Vec<DiskFixture>,
    alloc_dir: DiskFixture,
    uptime: u64,
    cpu_ticks_consumed: f64,
    taken_at: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct MemoryFixture {
    total: u64,
    available: u64,
    used: u64,
    free: u64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct CpuFixture {
    name: String,
    user: f64,
    system: f64,
    idle: f64,
    total_percent: f64,
    total_ticks: f64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct DiskFixture {
    device: String,
    mountpoint: String,
    size: u64,
    used: u64,
    available: u64,
    used_percent: f64,
    inodes_used_percent: f64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TaskUsageFixture {
    task: String,
    processes: Vec<ProcessFixture>,
    taken_at: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct ProcessFixture {
    pid: u32,
    rss: u64,
    swap: u64,
    cpu_percent: f64,
    user_mode: f64,
    system_mode: f64,
    total_ticks: f64,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct AclFixture {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    tokens: Vec<TokenFixture>,
    /// Policy documents by name, compiled by the core under test before each vector runs.
    #[serde(default)]
    policies: BTreeMap<String, String>,
    /// The token `bootstrap` mints.
    #[serde(default)]
    bootstrap: Option<BootstrapFixture>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct BootstrapFixture {
    accessor_id: String,
    secret: String,
    create_time: Time,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TokenFixture {
    secret: String,
    accessor_id: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    token_type: String,
    #[serde(default)]
    policies: Vec<String>,
    create_time: Time,
    #[serde(default)]
    expiration_time: Option<Time>,
    #[serde(default)]
    expired: bool,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Faults {
    #[serde(default)]
    apply_meta: Option<String>,
    #[serde(default)]
    collect: Option<CollectFault>,
    #[serde(default)]
    bootstrap: Option<String>,
    #[serde(default)]
    lifecycle: Option<LifecycleFault>,
}

/// How `restart` and `signal` fail: `"not-running"` and the other cases, or `{"io": "message"}`.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
enum LifecycleFault {
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
enum CollectFault {
    NotFound,
    NotTerminal,
    Io(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    /// Required, though read from the raw JSON (see `vector_name`) so malformed vectors are named.
    #[serde(rename = "name")]
    _name: String,
    #[serde(default, rename = "why")]
    _why: IgnoredAny,
    #[serde(default)]
    request: Option<RequestSpec>,
    #[serde(default)]
    compile_policy: Option<PolicySource>,
    #[serde(default)]
    steps: Vec<StepSpec>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    #[serde(default = "default_method")]
    method: String,
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySource {
    name: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    #[serde(default)]
    pull: Option<u64>,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    append: Option<FileChange>,
    #[serde(default)]
    write: Option<FileChange>,
    #[serde(default)]
    replace: Option<FileChange>,
    #[serde(default)]
    remove: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChange {
    path: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    respond: Option<ExpectResponse>,
    #[serde(default)]
    send_file: Option<ExpectSendFile>,
    #[serde(default)]
    stream: Option<ExpectStream>,
    #[serde(default)]
    exec: Option<ExpectExec>,
    #[serde(default)]
    compiled: Option<ExpectPolicy>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    state: Option<ExpectState>,
    #[serde(default)]
    logs: Option<Vec<(String, String)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectResponse {
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectExec {
    alloc_id: String,
    task: String,
    command: Vec<String>,
    tty: bool,
    not_running: ExpectResponse,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSendFile {
    alloc_id: String,
    path: String,
    offset: u64,
    limit: Option<u64>,
    headers: Vec<(String, String)>,
    #[serde(default)]
    vanished: Option<ExpectResponse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectStream {
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(default)]
    watched: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectPolicy {
    name: String,
    namespaces: Vec<ExpectRule>,
    node: Option<String>,
    agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectRule {
    pattern: String,
    capabilities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectState {
    #[serde(default)]
    dynamic_meta: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    collected: Option<Vec<String>>,
    #[serde(default)]
    registered: Option<Vec<Value>>,
    #[serde(default)]
    lifecycle: Option<Vec<Value>>,
    #[serde(default)]
    bootstrapped: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// The in-memory host: the store's data, built afresh from the fixture for every vector.

#[derive(Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Fifo,
}

#[derive(Clone)]
struct Entry {
    kind: Kind,
    perm: u32,
    modified: Time,
    inode: u64,
    read_error: Option<String>,
}

impl Entry {
    fn info(&self, name: &str) -> filesystem::FileInfo {
        let (type_bits, size) = match &self.kind {
            Kind::File(data) => (0o100000, data.len() as u64),
            Kind::Dir => (0o040000, 4096),
            Kind::Symlink(target) => (0o120000, target.len() as u64),
            Kind::Fifo => (0o010000, 0),
        };
        filesystem::FileInfo {
            name: name.to_string(),
            size,
            mode: type_bits | self.perm,
            modified: self.modified.into(),
            inode: self.inode,
        }
    }
}

/// One allocation's directory: entries by their path relative to it (`""` is its root).
type Tree = BTreeMap<String, Entry>;

struct MemHost {
    fixture: Fixture,
    dynamic_meta: BTreeMap<String, Option<String>>,
    trees: BTreeMap<String, Tree>,
    collected: Vec<String>,
    /// Each registration, summarised as `docs/vectors.md` says.
    registered: Vec<Value>,
    /// Each `restart` and `signal` the core asked for, as `docs/vectors.md` says.
    lifecycle: Vec<Value>,
    bootstrapped: bool,
    compiled: Vec<policy::CompiledPolicy>,
    logs: Vec<(String, String)>,
    watched: Vec<String>,
    live_subscriptions: u32,
    next_subscription: u32,
    next_step_inode: u64,
}

impl MemHost {
    fn new(fixture: &Fixture) -> Self {
        let mut trees = BTreeMap::new();
        for alloc in &fixture.allocations {
            trees.insert(alloc.id.clone(), build_tree(alloc, fixture.modified));
        }
        Self {
            fixture: fixture.clone(),
            dynamic_meta: fixture.dynamic_meta.clone(),
            trees,
            collected: Vec::new(),
            registered: Vec::new(),
            lifecycle: Vec::new(),
            bootstrapped: false,
            compiled: Vec::new(),
            logs: Vec::new(),
            watched: Vec::new(),
            live_subscriptions: 0,
            next_subscription: 0,
            next_step_inode: STEP_INODE_BASE,
        }
    }

    fn tree(&self, alloc_id: &str) -> Result<&Tree, filesystem::FsError> {
        self.trees
            .get(alloc_id)
            .filter(|_| !self.collected.iter().any(|c| c == alloc_id))
            .ok_or(filesystem::FsError::NotFound)
    }

    /// Apply a step's change to the first allocation's directory.
    fn change(&mut self, step: &StepSpec) -> Result<(), String> {
        let alloc = self
            .fixture
            .allocations
            .first()
            .ok_or("a step changes files but the fixture has no allocation")?
            .id
            .clone();
        let modified = self.fixture.modified;
        let fresh_inode = self.next_step_inode + 1;
        let tree = self
            .trees
            .get_mut(&alloc)
            .expect("every allocation has a tree");
        let file = |data: Vec<u8>, inode: u64| Entry {
            kind: Kind::File(data),
            perm: 0o644,
            modified,
            inode,
            read_error: None,
        };
        if let Some(c) = &step.append {
            match tree.get_mut(&c.path) {
                Some(Entry {
                    kind: Kind::File(data),
                    ..
                }) => data.extend_from_slice(c.text.as_bytes()),
                Some(_) => return Err(format!("append: {} is not a file", c.path)),
                None => {
                    add_parents(tree, &c.path, modified);
                    tree.insert(
                        c.path.clone(),
                        file(c.text.clone().into_bytes(), fresh_inode),
                    );
                    self.next_step_inode = fresh_inode;
                }
            }
        } else if let Some(c) = &step.write {
            match tree.get_mut(&c.path) {
                Some(Entry {
                    kind: Kind::File(data),
                    ..
                }) => *data = c.text.clone().into_bytes(),
                _ => return Err(format!("write: {} is not an existing file", c.path)),
            }
        } else if let Some(c) = &step.replace {
            add_parents(tree, &c.path, modified);
            tree.insert(
                c.path.clone(),
                file(c.text.clone().into_bytes(), fresh_inode),
            );
            self.next_step_inode = fresh_inode;
        } else if let Some(path) = &step.remove {
            tree.remove(path)
                .ok_or_else(|| format!("remove: {path} does not exist"))?;
        } else {
            return Err("a step must pull or change a file".into());
        }
        Ok(())
    }
}

fn build_tree(alloc: &AllocFixture, modified: Time) -> Tree {
    let mut tree = Tree::new();
    tree.insert(String::new(), dir_entry(modified));
    for (i, f) in alloc.files.iter().enumerate() {
        let kind = if f.dir {
            Kind::Dir
        } else if let Some(target) = &f.symlink {
            Kind::Symlink(target.clone())
        } else if f.fifo {
            Kind::Fifo
        } else if let Some(b64) = &f.base64 {
            Kind::File(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_else(|e| panic!("{}: bad base64: {e}", f.path)),
            )
        } else {
            Kind::File(f.text.clone().unwrap_or_default().into_bytes())
        };
        let default_perm = match kind {
            Kind::Dir => 0o755,
            Kind::Symlink(_) => 0o777,
            _ => 0o644,
        };
        let perm = f.perm.as_deref().map_or(default_perm, |p| {
            u32::from_str_radix(p, 8).unwrap_or_else(|e| panic!("{}: bad perm: {e}", f.path))
        });
        add_parents(&mut tree, &f.path, modified);
        tree.insert(
            f.path.clone(),
            Entry {
                kind,
                perm,
                modified: f.modified.unwrap_or(modified),
                inode: f.inode.unwrap_or(i as u64 + 1),
                read_error: f.read_error.clone(),
            },
        );
    }
    tree
}

fn dir_entry(modified: Time) -> Entry {
    Entry {
        kind: Kind::Dir,
        perm: 0o755,
        modified,
        inode: 0,
        read_error: None,
    }
}

/// Directories implied by a path exist even when the fixture does not list them.
fn add_parents(tree: &mut Tree, path: &str, modified: Time) {
    let parts: Vec<&str> = path.split('/').collect();
    for end in 1..parts.len() {
        tree.entry(parts[..end].join("/"))
            .or_insert_with(|| dir_entry(modified));
    }
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

/// Resolve `path` inside the tree, following symlinks (the last one only if `follow_last`),
/// refusing to climb above the root or to follow an absolute link.
fn resolve(tree: &Tree, path: &str, follow_last: bool) -> Result<String, filesystem::FsError> {
    use filesystem::FsError;
    let mut pending: VecDeque<String> = components(path).collect();
    let mut current: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            current.pop().ok_or(FsError::EscapesAllocDir)?;
            continue;
        }
        let candidate = current
            .iter()
            .chain(std::iter::once(&part))
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        let entry = tree.get(&candidate).ok_or(FsError::NotFound)?;
        match &entry.kind {
            Kind::Symlink(target) if !pending.is_empty() || follow_last => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(FsError::Io("too many levels of symbolic links".into()));
                }
                if target.starts_with('/') {
                    return Err(FsError::EscapesAllocDir);
                }
                for part in components(target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(part);
                }
            }
            Kind::Dir => current.push(part),
            _ if !pending.is_empty() => return Err(FsError::NotADirectory),
            _ => current.push(part),
        }
    }
    Ok(current.join("/"))
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

impl types::Host for MemHost {}
impl policy::Host for MemHost {}

impl log::Host for MemHost {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.logs.push((level.into(), message));
    }
}

impl node::Host for MemHost {
    fn node_id(&mut self) -> String {
        self.fixture.node_id.clone()
    }

    fn static_meta(&mut self) -> Vec<types::Pair> {
        self.fixture
            .static_meta
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    fn dynamic_meta(&mut self) -> Vec<node::MetaEntry> {
        meta_entries(&self.dynamic_meta)
    }

    fn apply_meta(
        &mut self,
        changes: Vec<node::MetaChange>,
    ) -> Result<Vec<node::MetaEntry>, String> {
        if let Some(fault) = &self.fixture.faults.apply_meta {
            return Err(fault.clone());
        }
        for change in changes {
            match change.op {
                node::MetaOp::Set(v) => self.dynamic_meta.insert(change.key, Some(v)),
                node::MetaOp::Tombstone => self.dynamic_meta.insert(change.key, None),
                node::MetaOp::Remove => self.dynamic_meta.remove(&change.key),
            };
        }
        Ok(meta_entries(&self.dynamic_meta))
    }
}

fn meta_entries(meta: &BTreeMap<String, Option<String>>) -> Vec<node::MetaEntry> {
    meta.iter()
        .map(|(key, value)| node::MetaEntry {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

impl allocations::Host for MemHost {
    fn get(&mut self, id: String) -> Option<allocations::Allocation> {
        self.list().into_iter().find(|a| a.id == id)
    }

    fn list(&mut self) -> Vec<allocations::Allocation> {
        self.fixture
            .allocations
            .iter()
            .filter(|a| !self.collected.contains(&a.id))
            .map(allocation)
            .collect()
    }

    fn collect(&mut self, id: String) -> Result<(), allocations::CollectError> {
        use allocations::CollectError as E;
        match &self.fixture.faults.collect {
            None => {}
            Some(CollectFault::NotFound) => return Err(E::NotFound),
            Some(CollectFault::NotTerminal) => return Err(E::NotTerminal),
            Some(CollectFault::Io(message)) => return Err(E::Io(message.clone())),
        }
        self.collected.push(id);
        Ok(())
    }

    fn restart(
        &mut self,
        alloc_id: String,
        task: Option<String>,
    ) -> Result<(), allocations::LifecycleError> {
        self.lifecycle_fault()?;
        self.lifecycle
            .push(serde_json::json!(["restart", alloc_id, task]));
        Ok(())
    }

    fn signal(
        &mut self,
        alloc_id: String,
        task: Option<String>,
        signal: String,
    ) -> Result<(), allocations::LifecycleError> {
        self.lifecycle_fault()?;
        self.lifecycle
            .push(serde_json::json!(["signal", alloc_id, task, signal]));
        Ok(())
    }
}

impl MemHost {
    fn lifecycle_fault(&self) -> Result<(), allocations::LifecycleError> {
        use allocations::LifecycleError as E;
        match &self.fixture.faults.lifecycle {
            None => Ok(()),
            Some(LifecycleFault::NotFound) => Err(E::NotFound),
            Some(LifecycleFault::UnknownTask) => Err(E::UnknownTask),
            Some(LifecycleFault::NotRunning) => Err(E::NotRunning),
            Some(LifecycleFault::Terminal) => Err(E::Terminal),
            Some(LifecycleFault::UnknownSignal) => Err(E::UnknownSignal),
            Some(LifecycleFault::Io(message)) => Err(E::Io(message.clone())),
        }
    }
}

/// The fixture is a client agent on its own: it is the only node it knows.
impl cluster::Host for MemHost {
    fn roles(&mut self) -> cluster::AgentRoles {
        let roles = self.fixture.roles.unwrap_or(RolesFixture {
            server: false,
            client: true,
            ui: true,
        });
        cluster::AgentRoles {
            server: roles.server,
            client: roles.client,
            ui: roles.ui,
        }
    }

    fn register(&mut self, r: cluster::Registration) -> Result<(), String> {
        let pairs = |list: Vec<types::Pair>| -> serde_json::Map<String, Value> {
            list.into_iter().map(|p| (p.name, p.value.into())).collect()
        };
        let status = |s: allocations::ClientStatus| match s {
            allocations::ClientStatus::Pending => "pending",
            allocations::ClientStatus::Running => "running",
            allocations::ClientStatus::Complete => "complete",
            allocations::ClientStatus::Failed => "failed",
            allocations::ClientStatus::Lost => "lost",
        };
        let certificate = r.certificate_sha256.clone();
        self.registered.push(serde_json::json!({
            "id": r.node.id,
            "name": r.node.name,
            "datacenter": r.node.datacenter,
            "http_addr": r.node.http_addr,
            "static_meta": pairs(r.node.static_meta),
            "dynamic_meta": r.node.dynamic_meta.into_iter()
                .map(|e| (e.key, e.value.map_or(Value::Null, Value::from)))
                .collect::<serde_json::Map<_, _>>(),
            "allocations": r.allocations.into_iter()
                .map(|a| serde_json::json!([a.id, a.namespace, status(a.client_status), a.tasks.len()]))
                .collect::<Vec<_>>(),
        }));
        if let (Some(certificate), Some(Value::Object(summary))) =
            (certificate, self.registered.last_mut())
        {
            summary.insert("certificate_sha256".into(), certificate.into());
        }
        Ok(())
    }

    fn node(&mut self, id: String) -> Option<cluster::NodeInfo> {
        (id == self.fixture.node_id).then(|| self.local_node())
    }

    fn nodes(&mut self) -> Vec<cluster::NodeInfo> {
        vec![self.local_node()]
    }

    fn find_allocation(&mut self, id: String) -> Option<cluster::PlacedAllocation> {
        let node_id = self.fixture.node_id.clone();
        allocations::Host::get(self, id).map(|allocation| cluster::PlacedAllocation {
            node_id,
            allocation,
        })
    }

    fn all_allocations(&mut self) -> Vec<cluster::PlacedAllocation> {
        let node_id = self.fixture.node_id.clone();
        allocations::Host::list(self)
            .into_iter()
            .map(|allocation| cluster::PlacedAllocation {
                node_id: node_id.clone(),
                allocation,
            })
            .collect()
    }
}

impl MemHost {
    fn local_node(&mut self) -> cluster::NodeInfo {
        cluster::NodeInfo {
            id: self.fixture.node_id.clone(),
            name: "vectors".into(),
            datacenter: "dc1".into(),
            http_addr: "127.0.0.1:4646".into(),
            status: cluster::NodeStatus::Ready,
            static_meta: node::Host::static_meta(self),
            dynamic_meta: node::Host::dynamic_meta(self),
            last_seen: types::Timestamp {
                seconds: 0,
                nanoseconds: 0,
            },
        }
    }
}

fn allocation(a: &AllocFixture) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    allocations::Allocation {
        id: a.id.clone(),
        namespace: a.namespace.clone(),
        job_id: a.job_id.clone(),
        task_group: a.task_group.clone(),
        client_status: match a.client_status.as_str() {
            "pending" => C::Pending,
            "running" => C::Running,
            "complete" => C::Complete,
            "failed" => C::Failed,
            "lost" => C::Lost,
            other => panic!("unknown client status {other:?}"),
        },
        tasks: a
            .tasks
            .iter()
            .map(|t| allocations::TaskState {
                name: t.name.clone(),
                state: match t.state.as_str() {
                    "pending" => T::Pending,
                    "running" => T::Running,
                    "dead" => T::Dead,
                    other => panic!("unknown task state {other:?}"),
                },
                failed: t.failed,
                started_at: t.started_at.map(Into::into),
                finished_at: t.finished_at.map(Into::into),
                restarts: t.restarts,
                last_restart: t.last_restart.map(Into::into),
            })
            .collect(),
    }
}

impl filesystem::Host for MemHost {
    fn stat(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<filesystem::FileInfo, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        Ok(tree[&real].info(base_name(&path)))
    }

    fn list(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Vec<filesystem::FileInfo>, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        if !matches!(tree[&real].kind, Kind::Dir) {
            return Err(filesystem::FsError::NotADirectory);
        }
        // Reverse name order: the contract promises no order, so the core must sort.
        Ok(tree
            .iter()
            .rev()
            .filter(|(p, _)| !p.is_empty() && parent(p) == real)
            .map(|(p, entry)| entry.info(base_name(p)))
            .collect())
    }

    fn read_at(
        &mut self,
        alloc_id: String,
        path: String,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, filesystem::FsError> {
        use filesystem::FsError;
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        let entry = &tree[&real];
        let data = match &entry.kind {
            Kind::Dir => return Err(FsError::IsADirectory),
            Kind::Fifo | Kind::Symlink(_) => return Err(FsError::NotRegularFile),
            Kind::File(data) => data,
        };
        let mut parts = real.split('/');
        let (first, second) = (parts.next().unwrap_or(""), parts.next());
        let is_task = self
            .fixture
            .allocations
            .iter()
            .filter(|a| a.id == alloc_id)
            .flat_map(|a| &a.tasks)
            .any(|t| t.name == first);
        match second {
            Some("secrets") if is_task => return Err(FsError::SecretFile),
            Some("private") if is_task => return Err(FsError::PrivateFile),
            _ => {}
        }
        if let Some(message) = &entry.read_error {
            return Err(FsError::Io(message.clone()));
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(length as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn log_marks(
        &mut self,
        alloc_id: String,
        path: String,
        start: u64,
        end: u64,
    ) -> Result<Vec<filesystem::LogMark>, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        let marks = self
            .fixture
            .allocations
            .iter()
            .filter(|a| a.id == alloc_id)
            .flat_map(|a| &a.files)
            .find(|f| f.path == real)
            .and_then(|f| f.marks.as_ref());
        let marks = marks.map_or(&[][..], Vec::as_slice);
        // The last mark at or before `start`, then every later one before `end`.
        let first = marks.iter().rposition(|m| m.offset <= start).unwrap_or(0);
        Ok(marks[first.min(marks.len())..]
            .iter()
            .filter(|m| m.offset <= start || m.offset < end)
            .map(|m| filesystem::LogMark {
                offset: m.offset,
                time: m.time.into(),
            })
            .collect())
    }

    fn now(&mut self) -> types::Timestamp {
        self.fixture.now.into()
    }
}

impl follow::Host for MemHost {
    fn watch(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<Subscription>, filesystem::FsError> {
        resolve(self.tree(&alloc_id)?, &path, true)?;
        self.watched.push(path);
        self.live_subscriptions += 1;
        self.next_subscription += 1;
        Ok(Resource::new_own(self.next_subscription))
    }
}

impl follow::HostSubscription for MemHost {
    fn drop(&mut self, _subscription: Resource<Subscription>) -> wasmtime::Result<()> {
        self.live_subscriptions -= 1;
        Ok(())
    }
}

impl acl::Host for MemHost {
    fn enabled(&mut self) -> bool {
        self.fixture.acl.enabled
    }

    fn resolve_token(&mut self, secret_id: String) -> Result<acl::Token, acl::ResolveError> {
        let token = self
            .fixture
            .acl
            .tokens
            .iter()
            .find(|t| t.secret == secret_id)
            .ok_or(acl::ResolveError::NotFound)?;
        if token.expired {
            return Err(acl::ResolveError::Expired);
        }
        Ok(acl::Token {
            accessor_id: token.accessor_id.clone(),
            name: token.name.clone(),
            token_type: match token.token_type.as_str() {
                "management" => acl::TokenType::Management,
                "client" => acl::TokenType::Client,
                other => panic!("unknown token type {other:?}"),
            },
            policies: token.policies.clone(),
            create_time: token.create_time.into(),
            expiration_time: token.expiration_time.map(Into::into),
        })
    }

    fn bootstrap(&mut self) -> Result<acl::MintedToken, acl::BootstrapError> {
        if let Some(fault) = &self.fixture.faults.bootstrap {
            return Err(acl::BootstrapError::Failed(fault.clone()));
        }
        let acl = &self.fixture.acl;
        if self.bootstrapped || acl.tokens.iter().any(|t| t.token_type == "management") {
            return Err(acl::BootstrapError::AlreadyDone);
        }
        let minted = acl
            .bootstrap
            .clone()
            .ok_or_else(|| acl::BootstrapError::Failed("no acl.bootstrap in the fixture".into()))?;
        self.bootstrapped = true;
        Ok(acl::MintedToken {
            token: acl::Token {
                accessor_id: minted.accessor_id,
                name: "Bootstrap Token".into(),
                token_type: acl::TokenType::Management,
                policies: Vec::new(),
                create_time: minted.create_time.into(),
                expiration_time: None,
            },
            secret_id: minted.secret,
        })
    }

    fn policies(&mut self, names: Vec<String>) -> Vec<policy::CompiledPolicy> {
        names
            .iter()
            .filter_map(|n| self.compiled.iter().find(|p| &p.name == n).cloned())
            .collect()
    }
}

impl stats::Host for MemHost {
    fn host(&mut self) -> Option<stats::HostStats> {
        let s = self.fixture.host_stats.as_ref()?;
        Some(stats::HostStats {
            memory: stats::MemoryStats {
                total: s.memory.total,
                available: s.memory.available,
                used: s.memory.used,
                free: s.memory.free,
            },
            cpu: s
                .cpu
                .iter()
                .map(|c| stats::CpuStats {
                    name: c.name.clone(),
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: s.disks.iter().map(disk).collect(),
            alloc_dir: disk(&s.alloc_dir),
            uptime: s.uptime,
            cpu_ticks_consumed: s.cpu_ticks_consumed,
            taken_at: s.taken_at.into(),
        })
    }

    fn allocation(&mut self, alloc_id: String) -> Vec<stats::TaskUsage> {
        self.fixture
            .task_usage
            .get(&alloc_id)
            .into_iter()
            .flatten()
            .map(|t| stats::TaskUsage {
                task: t.task.clone(),
                processes: t
                    .processes
                    .iter()
                    .map(|p| stats::ProcessUsage {
                        pid: p.pid,
                        rss: p.rss,
                        swap: p.swap,
                        cpu_percent: p.cpu_percent,
                        user_mode: p.user_mode,
                        system_mode: p.system_mode,
                        total_ticks: p.total_ticks,
                    })
                    .collect(),
                taken_at: t.taken_at.into(),
            })
            .collect()
    }
}

fn disk(d: &DiskFixture) -> stats::DiskStats {
    stats::DiskStats {
        device: d.device.clone(),
        mountpoint: d.mountpoint.clone(),
        size: d.size,
        used: d.used,
        available: d.available,
        used_percent: d.used_percent,
        inodes_used_percent: d.inodes_used_percent,
    }
}

// ---------------------------------------------------------------------------------------------
// Running a vector.

struct Runtime {
    engine: Engine,
    pre: CorePre<MemHost>,
}

/// The component is compiled once; every vector gets its own store and instance.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("engine");
        let component =
            Component::new(&engine, caravan::runtime::DEFAULT_CORE).expect("the core compiles");
        let mut linker = Linker::new(&engine);
        Core::add_to_linker::<MemHost, HasSelf<MemHost>>(&mut linker, |host| host)
            .expect("link the in-memory host");
        let pre = CorePre::new(linker.instantiate_pre(&component).expect("instantiate_pre"))
            .expect("the core exports the handler");
        Runtime { engine, pre }
    })
}

/// A loaded vector file: its fixture and its vectors (kept as JSON so tests can change them).
struct Suite {
    file: String,
    fixture: Fixture,
    vectors: Vec<Value>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn suites() -> Vec<Suite> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: VectorFile =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Suite {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                fixture: parsed.fixture,
                vectors: parsed.vectors,
            }
        })
        .collect()
}

/// Where a vector runs: the component on wasmtime, or the same core crate linked natively
/// (the benchmarks' baseline, `caravan agent -core native`), both over the same in-memory host.
#[derive(Clone, Copy, Debug)]
enum Target {
    Wasm,
    Native,
}

/// Run one vector; `Err` says what differed.
fn run(target: Target, fixture: &Fixture, vector: &Value) -> Result<(), String> {
    let vector: Vector =
        serde_json::from_value(vector.clone()).map_err(|e| format!("malformed vector: {e}"))?;
    match target {
        Target::Wasm => run_wasm(fixture, &vector),
        Target::Native => run_native(fixture, &vector),
    }
}

fn run_wasm(fixture: &Fixture, vector: &Vector) -> Result<(), String> {
    let rt = runtime();
    let mut store = Store::new(&rt.engine, MemHost::new(fixture));
    let core = rt.pre.instantiate(&mut store).map_err(|e| e.to_string())?;
    let handler = core.caravan_client_handler();
    for (name, text) in &fixture.acl.policies {
        let compiled = handler
            .call_compile_policy(&mut store, name, text)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("fixture policy {name} does not compile: {e}"))?;
        store.data_mut().compiled.push(compiled);
    }
    if let Some(source) = &vector.compile_policy {
        let result = handler
            .call_compile_policy(&mut store, &source.name, &source.text)
            .map_err(|e| e.to_string())?;
        check_policy(result, &vector.expect)?;
        return check_state(store.data(), &vector.expect);
    }
    let action = handler
        .call_handle(&mut store, &request(vector)?)
        .map_err(|e| format!("trap: {e:#}"))?;
    let (outcome, body) = match action {
        handler::Action::Respond(r) => (Outcome::Respond(r), None),
        handler::Action::SendFile(s) => (Outcome::SendFile(s), None),
        handler::Action::Stream(start) => (
            Outcome::Stream {
                status: start.status,
                headers: start.headers,
            },
            Some(start.body),
        ),
        // The fixture knows no other node: nothing is ever elsewhere.
        handler::Action::Forward(to) => {
            return Err(format!("forwarded to node {}", to.node_id));
        }
        handler::Action::Exec(e) => (Outcome::Exec(e), None),
    };
    let Some(body) = body else {
        check_outcome(outcome, vector, |_| Err("not a stream".into()))?;
        return check_state(store.data(), &vector.expect);
    };
    let streams = core.caravan_client_handler().body_stream();
    let result = check_outcome(outcome, vector, |pull| match pull {
        Pull::At(now) => streams
            .call_next(&mut store, body, now)
            .map_err(|e| format!("trap: {e:#}")),
        Pull::Change(step) => store.data_mut().change(step).map(|()| handler::Step::End),
    });
    body.resource_drop(&mut store).map_err(|e| e.to_string())?;
    result?;
    if store.data().live_subscriptions != 0 {
        return Err("dropping the body did not drop its subscriptions".into());
    }
    check_state(store.data(), &vector.expect)
}

fn run_native(fixture: &Fixture, vector: &Vector) -> Result<(), String> {
    use caravan::runtime::native::NativeHost;
    let host = NativeHost::new(MemHost::new(fixture));
    for (name, text) in &fixture.acl.policies {
        let compiled = caravan_core::acl::compile(name, text)
            .map_err(|e| format!("fixture policy {name} does not compile: {e}"))?;
        host.state().compiled.push(wit_policy(compiled));
    }
    if let Some(source) = &vector.compile_policy {
        let result = caravan_core::acl::compile(&source.name, &source.text).map(wit_policy);
        check_policy(result, &vector.expect)?;
        return check_state(&host.state(), &vector.expect);
    }
    let action = caravan_core::handle(&host, &(&request(vector)?).into());
    match action {
        caravan_core::http::Action::Forward(to) => {
            return Err(format!("forwarded to node {}", to.node_id));
        }
        caravan_core::http::Action::Respond(r) => {
            check_outcome(Outcome::Respond(r.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::SendFile(s) => {
            check_outcome(Outcome::SendFile(s.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::Exec(e) => {
            check_outcome(Outcome::Exec(e.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::Stream(start) => {
            let mut body = start.body;
            let outcome = Outcome::Stream {
                status: start.status,
                headers: start
                    .headers
                    .into_iter()
                    .map(|(name, value)| types::Pair { name, value })
                    .collect(),
            };
            check_outcome(outcome, vector, |pull| match pull {
                Pull::At(now) => Ok(body.next(&host, now).into()),
                Pull::Change(step) => host.state().change(step).map(|()| handler::Step::End),
            })?;
        }
    }
    check_state(&host.state(), &vector.expect)
}

/// The core's compiled policy as the `policy` interface carries it.
fn wit_policy(p: caravan_core::acl::CompiledPolicy) -> policy::CompiledPolicy {
    let disposition = |d: caravan_core::acl::Disposition| match d {
        caravan_core::acl::Disposition::Deny => policy::Disposition::Deny,
        caravan_core::acl::Disposition::Read => policy::Disposition::Read,
        caravan_core::acl::Disposition::Write => policy::Disposition::Write,
    };
    policy::CompiledPolicy {
        name: p.name,
        namespaces: p
            .namespaces
            .into_iter()
            .map(|r| policy::NamespaceRule {
                pattern: r.pattern,
                capabilities: r.capabilities,
            })
            .collect(),
        node: p.node.map(disposition),
        agent: p.agent.map(disposition),
    }
}

fn request(vector: &Vector) -> Result<types::Request, String> {
    let spec = vector
        .request
        .as_ref()
        .ok_or("a vector needs a request or compile_policy")?;
    Ok(types::Request {
        method: spec.method.clone(),
        path: spec.path.clone(),
        query: spec.query.clone(),
        headers: spec
            .headers
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        body: match (&spec.body, &spec.body_base64) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(b64)) => decode(b64)?,
            (None, None) => Vec::new(),
            _ => return Err("request: body and body_base64 are exclusive".into()),
        },
    })
}

fn decode(b64: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64 {b64:?}: {e}"))
}

/// What `handle` decided, whichever target decided it; a stream's body is pulled separately.
enum Outcome {
    Respond(types::Response),
    SendFile(handler::SendFile),
    Exec(handler::ExecRequest),
    Stream {
        status: u16,
        headers: Vec<types::Pair>,
    },
}

/// One scripted step of a stream: pull at this time, or change the files.
enum Pull<'a> {
    At(u64),
    Change(&'a StepSpec),
}

/// Compare an outcome with the vector; for a stream, run the steps through `pull`.
fn check_outcome(
    outcome: Outcome,
    vector: &Vector,
    mut pull: impl FnMut(Pull<'_>) -> Result<handler::Step, String>,
) -> Result<(), String> {
    let expect = &vector.expect;
    match outcome {
        Outcome::Respond(r) => {
            let want = expect
                .respond
                .as_ref()
                .ok_or_else(|| format!("unexpected response: {}", describe(&r)))?;
            check_response(want, &r)
        }
        Outcome::SendFile(s) => {
            let want = expect
                .send_file
                .as_ref()
                .ok_or_else(|| format!("unexpected send-file of {:?}", s.path))?;
            same("alloc_id", want.alloc_id.as_str(), s.alloc_id.as_str())?;
            same("path", want.path.as_str(), s.path.as_str())?;
            same("offset", want.offset, s.offset)?;
            same("limit", want.limit, s.limit)?;
            same_headers(&want.headers, &s.headers)?;
            match &want.vanished {
                Some(vanished) => {
                    check_response(vanished, &s.vanished).map_err(|e| format!("vanished: {e}"))
                }
                None => Ok(()),
            }
        }
        Outcome::Exec(e) => {
            let want = expect
                .exec
                .as_ref()
                .ok_or_else(|| format!("unexpected exec of {:?}", e.command))?;
            same("alloc_id", want.alloc_id.as_str(), e.alloc_id.as_str())?;
            same("task", want.task.as_str(), e.task.as_str())?;
            same("command", &want.command, &e.command)?;
            same("tty", want.tty, e.tty)?;
            check_response(&want.not_running, &e.not_running)
                .map_err(|e| format!("not_running: {e}"))
        }
        Outcome::Stream { status, headers } => {
            let want = expect
                .stream
                .as_ref()
                .ok_or_else(|| format!("unexpected stream with status {status}"))?;
            same("status", want.status, status)?;
            same_headers(&want.headers, &headers)?;
            for (i, step) in vector.steps.iter().enumerate() {
                let Some(now) = step.pull else {
                    pull(Pull::Change(step))?;
                    continue;
                };
                let want = step.expect.as_ref().ok_or("a pull needs an expect")?;
                let got = pull(Pull::At(now)).map_err(|e| format!("step {i}: {e}"))?;
                check_step(want, &got).map_err(|e| format!("step {i} (pull at {now} ms): {e}"))?;
            }
            Ok(())
        }
    }
}

fn check_response(want: &ExpectResponse, r: &types::Response) -> Result<(), String> {
    same("status", want.status, r.status)?;
    same_headers(&want.headers, &r.headers)?;
    let body = match (&want.body, &want.body_base64) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(b64)) => decode(b64)?,
        _ => return Err("expect.respond needs exactly one of body, body_base64".into()),
    };
    same_bytes("body", &body, &r.body)
}

fn check_step(want: &Value, got: &handler::Step) -> Result<(), String> {
    let shown = match got {
        handler::Step::Data(d) => format!("data {:?}", String::from_utf8_lossy(d)),
        handler::Step::Wait(ms) => format!("wait {ms}"),
        handler::Step::End => "end".into(),
    };
    let matches = match (want, got) {
        (Value::String(s), handler::Step::End) => s == "end",
        (Value::Object(o), handler::Step::Data(d)) if o.len() == 1 => {
            if let Some(Value::String(text)) = o.get("data") {
                text.as_bytes() == d.as_slice()
            } else if let Some(Value::String(b64)) = o.get("data_base64") {
                decode(b64)? == *d
            } else {
                false
            }
        }
        (Value::Object(o), handler::Step::Wait(ms)) if o.len() == 1 => {
            o.get("wait").and_then(Value::as_u64) == Some(u64::from(*ms))
        }
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(format!("expected {want}, got {shown}"))
    }
}

fn check_policy(
    result: Result<policy::CompiledPolicy, String>,
    expect: &Expect,
) -> Result<(), String> {
    match (result, &expect.compiled, &expect.error) {
        (Ok(p), Some(want), None) => {
            same("name", want.name.as_str(), p.name.as_str())?;
            let rules: Vec<(String, Vec<String>)> = p
                .namespaces
                .into_iter()
                .map(|r| (r.pattern, r.capabilities))
                .collect();
            let wanted: Vec<(String, Vec<String>)> = want
                .namespaces
                .iter()
                .map(|r| (r.pattern.clone(), r.capabilities.clone()))
                .collect();
            same("namespaces", wanted, rules)?;
            same("node", want.node.as_deref(), p.node.map(disposition))?;
            same("agent", want.agent.as_deref(), p.agent.map(disposition))
        }
        (Err(e), None, Some(want)) => same("error", want.as_str(), e.as_str()),
        (Ok(_), None, Some(want)) => Err(format!("compiled, but expected the error {want:?}")),
        (Err(e), Some(_), None) => Err(format!("expected a policy, got the error {e:?}")),
        _ => Err("expect needs exactly one of compiled, error".into()),
    }
}

fn disposition(d: policy::Disposition) -> &'static str {
    match d {
        policy::Disposition::Deny => "deny",
        policy::Disposition::Read => "read",
        policy::Disposition::Write => "write",
    }
}

fn check_state(host: &MemHost, expect: &Expect) -> Result<(), String> {
    if let Some(paths) = expect.stream.as_ref().and_then(|s| s.watched.as_ref()) {
        same("watched", paths, &host.watched)?;
    }
    if let Some(state) = &expect.state {
        if let Some(meta) = &state.dynamic_meta {
            same("dynamic_meta", meta, &host.dynamic_meta)?;
        }
        if let Some(collected) = &state.collected {
            same("collected", collected, &host.collected)?;
        }
        if let Some(registered) = &state.registered {
            same("registered", registered, &host.registered)?;
        }
        if let Some(lifecycle) = &state.lifecycle {
            same("lifecycle", lifecycle, &host.lifecycle)?;
        }
        if let Some(bootstrapped) = state.bootstrapped {
            same("bootstrapped", bootstrapped, host.bootstrapped)?;
        }
    }
    if let Some(logs) = &expect.logs {
        same("logs", logs, &host.logs)?;
    }
    Ok(())
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, want: T, got: T) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn same_bytes(what: &str, want: &[u8], got: &[u8]) -> Result<(), String> {
    same(
        what,
        String::from_utf8_lossy(want),
        String::from_utf8_lossy(got),
    )?;
    same(what, want, got)
}

/// Header names compare case-insensitively; order does not matter, repetitions do.
fn same_headers(want: &[(String, String)], got: &[types::Pair]) -> Result<(), String> {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut got: Vec<(String, String)> = got
        .iter()
        .map(|p| (p.name.to_ascii_lowercase(), p.value.clone()))
        .collect();
    want.sort();
    got.sort();
    same("headers", want, got)
}

fn describe(r: &types::Response) -> String {
    format!("{} {:?}", r.status, String::from_utf8_lossy(&r.body))
}

/// Every expected value of a vector changed once: strings get a `~`, numbers grow by one,
/// booleans flip. Inputs (the request, the pull times, the file changes) are left alone.
fn mutations(vector: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut leaves = Vec::new();
    collect_leaves(&vector["expect"], "/expect".into(), &mut leaves);
    if let Some(steps) = vector["steps"].as_array() {
        for (i, step) in steps.iter().enumerate() {
            if step.get("expect").is_some() {
                collect_leaves(&step["expect"], format!("/steps/{i}/expect"), &mut leaves);
            }
        }
    }
    for pointer in leaves {
        let mut changed = vector.clone();
        let leaf = changed.pointer_mut(&pointer).expect("leaf exists");
        *leaf = match leaf.take() {
            Value::String(s) => Value::String(format!("{s}~")),
            Value::Bool(b) => Value::Bool(!b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Value::from(u + 1),
                (None, Some(i)) => Value::from(i + 1),
                _ => Value::from(n.as_f64().unwrap_or(0.0) + 1.0),
            },
            other => other,
        };
        out.push((pointer, changed));
    }
    out
}

fn collect_leaves(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                collect_leaves(child, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_leaves(child, format!("{pointer}/{i}"), out);
            }
        }
        Value::Null => {}
        _ => out.push(pointer),
    }
}

fn vector_name(vector: &Value) -> &str {
    vector["name"].as_str().unwrap_or("<unnamed>")
}

fn every_vector_passes(target: Target) {
    let mut failures = Vec::new();
    let mut count = 0;
    for suite in suites() {
        for vector in &suite.vectors {
            count += 1;
            if let Err(why) = run(target, &suite.fixture, vector) {
                failures.push(format!("{} / {}: {why}", suite.file, vector_name(vector)));
            }
        }
    }
    println!("{count} vectors run ({target:?})");
    assert!(count >= 40, "only {count} vectors");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn a_changed_expected_value_fails(target: Target) {
    let mut undetected = Vec::new();
    let mut count = 0;
    for suite in suites() {
        for vector in &suite.vectors {
            for (pointer, changed) in mutations(vector) {
                count += 1;
                if run(target, &suite.fixture, &changed).is_ok() {
                    undetected.push(format!(
                        "{} / {} {pointer}",
                        suite.file,
                        vector_name(vector)
                    ));
                }
            }
        }
    }
    println!("{count} changed expectations, each detected ({target:?})");
    assert!(
        undetected.is_empty(),
        "changes that still passed:\n{}",
        undetected.join("\n")
    );
}

#[test]
fn every_vector_passes_on_wasmtime() {
    every_vector_passes(Target::Wasm);
}

#[test]
fn a_changed_expected_value_fails_on_wasmtime() {
    a_changed_expected_value_fails(Target::Wasm);
}

/// The native baseline must answer exactly as the component does, or its benchmark figures
/// would compare different work.
#[test]
fn every_vector_passes_natively() {
    every_vector_passes(Target::Native);
}

#[test]
fn a_changed_expected_value_fails_natively() {
    a_changed_expected_value_fails(Target::Native);
}

/// The vectors exercise every route the core serves.
#[test]
fn vectors_cover_every_route() {
    let mut seen = std::collections::BTreeSet::new();
    for suite in suites() {
        for vector in &suite.vectors {
            if let Some(path) = vector["request"]["path"].as_str()
                && let Ok(route) = caravan_core::router::route(path)
            {
                seen.insert(route.name());
            }
        }
    }
    let missing: Vec<_> = caravan_core::router::NAMES
        .iter()
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(missing.is_empty(), "no vector reaches {missing:?}");
}
