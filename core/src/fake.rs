//! An in-memory [`Host`] for unit tests: one allocation with a few files.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::host::*;

mod answers;

/// The fake's directory listing: every entry read at once, handed out a page at a time.
pub type FakeListing = RefCell<std::vec::IntoIter<FileInfo>>;

/// The one allocation's id.
pub const ALLOC: &str = "5fc98185-17ff-26bc-a802-0c74fa471c99";
/// This node's id.
pub const NODE: &str = "0a1b2c3d-0000-4000-8000-000000000001";

/// The in-memory host: every field is what a test sets up or reads back.
pub struct Fake {
    /// File contents by path inside the allocation directory.
    pub files: RefCell<BTreeMap<String, Vec<u8>>>,
    /// Inode numbers by path; a file written anew with [`Fake::replace`] gets a new one.
    pub inodes: RefCell<BTreeMap<String, u64>>,
    /// Paths the core asked to watch.
    pub watches: RefCell<Vec<String>>,
    /// Dynamic metadata.
    pub dynamic: RefCell<DynamicMeta>,
    /// The allocation's client status.
    pub status: RefCell<ClientStatus>,
    /// Allocations collected.
    pub collected: RefCell<Vec<String>>,
    /// Whether the task has started (it has a start time).
    pub task_started: RefCell<bool>,
    /// What `collect` answers instead of collecting.
    pub collect_error: RefCell<Option<CollectError>>,
    /// Whether the task is running (it is pending otherwise).
    pub task_running: RefCell<bool>,
    /// Whether the task has exited (over `task_running`).
    pub task_dead: RefCell<bool>,
    /// Each restart and signal asked of the host: `restart web`, `signal * SIGHUP`.
    pub lifecycle: RefCell<Vec<String>>,
    /// What `restart` and `signal` answer instead of acting.
    pub lifecycle_error: RefCell<Option<LifecycleError>>,
    /// This agent's roles.
    pub roles: RefCell<Roles>,
    /// Whether ACLs are enforced.
    pub acl_enabled: RefCell<bool>,
    /// Tokens by secret.
    pub tokens: RefCell<BTreeMap<String, Token>>,
    /// Compiled policies by name.
    pub policies: RefCell<Vec<CompiledPolicy>>,
    /// Policies as the ACL API stored them.
    pub policy_documents: RefCell<Vec<PolicyDocument>>,
    /// The last index the ACL API's writes took.
    pub acl_index: RefCell<u64>,
    /// Heartbeats received.
    pub registered: RefCell<Vec<Registration>>,
    /// Registered nodes that read as down.
    pub down: RefCell<BTreeSet<String>>,
    /// What the core logged.
    pub logs: RefCell<Vec<String>>,
    /// Arrival marks by log file path (files without an entry have no times).
    pub marks: RefCell<BTreeMap<String, Vec<LogMark>>>,
    /// What the host's wall clock reads.
    pub now: RefCell<Timestamp>,
    /// Relays the core opened, by id: (node id, target, token).
    pub relays: RefCell<Vec<(String, String, Option<String>)>>,
    /// What each node's relay brings, one item per `relay_take` (then `Pending`).
    pub relay_script: RefCell<BTreeMap<String, VecDeque<Arrived>>>,
    /// Relays the core closed.
    pub relays_closed: RefCell<Vec<u32>>,
    /// How many times a file was read (`read-at`): what a followed stream costs per wake-up.
    pub reads: RefCell<u32>,
}

impl Default for Fake {
    fn default() -> Self {
        let files = [
            ("alloc/logs/web.stdout.0", b"hello\n".to_vec()),
            (
                "alloc/data/page.html",
                b"<html><body>x</body></html>".to_vec(),
            ),
            ("alloc/data/empty", Vec::new()),
            ("alloc/data/conf.json", b"{}".to_vec()),
        ];
        Self {
            files: RefCell::new(files.into_iter().map(|(p, d)| (p.to_string(), d)).collect()),
            inodes: RefCell::default(),
            watches: RefCell::default(),
            dynamic: RefCell::default(),
            status: RefCell::new(ClientStatus::Running),
            collected: RefCell::default(),
            task_started: RefCell::default(),
            collect_error: RefCell::default(),
            task_running: RefCell::default(),
            task_dead: RefCell::default(),
            lifecycle: RefCell::default(),
            lifecycle_error: RefCell::default(),
            roles: RefCell::new(Roles {
                server: false,
                client: true,
                ui: true,
            }),
            acl_enabled: RefCell::default(),
            tokens: RefCell::default(),
            policies: RefCell::default(),
            policy_documents: RefCell::default(),
            acl_index: RefCell::default(),
            registered: RefCell::default(),
            down: RefCell::default(),
            logs: RefCell::default(),
            marks: RefCell::default(),
            now: RefCell::new(Timestamp {
                seconds: 1_800_000_000,
                nanoseconds: 0,
            }),
            relays: RefCell::default(),
            relay_script: RefCell::default(),
            relays_closed: RefCell::default(),
            reads: RefCell::default(),
        }
    }
}

const DIR: u32 = 0o040755;
const FILE: u32 = 0o100644;

impl Fake {
    fn is_dir(&self, path: &str) -> bool {
        path.is_empty()
            || self
                .files
                .borrow()
                .keys()
                .any(|f| f.starts_with(&format!("{path}/")))
    }

    fn info(&self, path: &str) -> Result<FileInfo, FsError> {
        let name = path.rsplit('/').next().unwrap_or("").to_string();
        let modified = Timestamp {
            seconds: 1_700_000_000,
            nanoseconds: 500_000_000,
        };
        let inode = self.inodes.borrow().get(path).copied().unwrap_or(1);
        if let Some(data) = self.files.borrow().get(path) {
            return Ok(FileInfo {
                name,
                size: data.len() as u64,
                mode: FILE,
                modified,
                inode,
            });
        }
        if self.is_dir(path) {
            return Ok(FileInfo {
                name,
                size: 4096,
                mode: DIR,
                modified,
                inode,
            });
        }
        Err(FsError::NotFound)
    }
}

impl Fake {
    /// Append to (or create) a file.
    pub fn append(&self, path: &str, data: &[u8]) {
        self.files
            .borrow_mut()
            .entry(path.to_string())
            .or_default()
            .extend_from_slice(data);
    }

    /// Replace a file's content in place (same inode), e.g. to truncate it.
    pub fn set(&self, path: &str, data: &[u8]) {
        self.files
            .borrow_mut()
            .insert(path.to_string(), data.to_vec());
    }

    /// Remove a file.
    pub fn remove(&self, path: &str) {
        self.files.borrow_mut().remove(path);
    }

    /// Append `data` to a log file as having arrived at `nanos` (Unix nanoseconds).
    pub fn log_at(&self, path: &str, data: &[u8], nanos: i64) {
        let offset = self.files.borrow().get(path).map_or(0, |d| d.len() as u64);
        let time = Timestamp {
            seconds: nanos.div_euclid(1_000_000_000),
            nanoseconds: nanos.rem_euclid(1_000_000_000) as u32,
        };
        self.marks
            .borrow_mut()
            .entry(path.to_string())
            .or_default()
            .push(LogMark { offset, time });
        self.append(path, data);
    }

    /// Start the allocation's task, so it has logs to serve.
    pub fn start_task(&self) {
        *self.task_started.borrow_mut() = true;
    }
}

impl Fake {
    fn next_index(&self) -> u64 {
        let mut index = self.acl_index.borrow_mut();
        *index += 1;
        *index
    }
}

/// The marks covering `from..to` as the contract defines them: the last at or before `from`,
/// then every later one before `to`.
pub fn covering(marks: &[LogMark], from: u64, to: u64) -> Vec<LogMark> {
    let first = marks.iter().rposition(|m| m.offset <= from).unwrap_or(0);
    marks[first.min(marks.len())..]
        .iter()
        .filter(|m| m.offset < to.max(from + 1))
        .copied()
        .collect()
}
