//! The client's durable state, kept in one redb database at `<data dir>/state.redb`.
//!
//! A Nomad client must remember a few things across restarts: its node id (the servers know it
//! by that id, so a new one would register a second node), the dynamic node metadata set through
//! `/v1/client/metadata`, and the allocations it runs, so that it can find them again after a
//! restart. One embedded transactional file keeps all three consistent with one another and
//! survives crashes, because every commit is durable (redb's default) before it returns.
//!
//! redb serialises write transactions, so a read-modify-write done inside one write transaction
//! (as [`StateStore::apply_meta`] does) cannot lose a concurrent caller's update.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use anyhow::Context as _;
use redb::{Database, ReadableDatabase as _, ReadableTable, TableDefinition};

/// Holds the node's identity: its id ([`NODE_ID_KEY`]) and secret ([`NODE_SECRET_KEY`]).
const IDENTITY: TableDefinition<&str, &str> = TableDefinition::new("identity");
/// Dynamic node metadata; a `None` value is a tombstone, which Nomad keeps so that a key removed
/// through the API also hides a static value of the same name from the agent's configuration.
const DYNAMIC_META: TableDefinition<&str, Option<&str>> = TableDefinition::new("dynamic_meta");
/// Allocation records as JSON text, keyed by allocation id.
const ALLOCATIONS: TableDefinition<&str, &str> = TableDefinition::new("allocations");
/// ACL policies and tokens written through the ACL API, as JSON text, keyed by
/// `policy/<name>` and `token/<accessor>` (tokens with a hash of their secret, never the
/// secret itself).
const ACL: TableDefinition<&str, &str> = TableDefinition::new("acl");

const NODE_ID_KEY: &str = "node_id";
/// The node's secret (Nomad's `SecretID`): sent to servers only, it proves that a
/// heartbeat from a new address comes from this node.
const NODE_SECRET_KEY: &str = "node_secret";
const FILE_NAME: &str = "state.redb";

/// One change to a dynamic metadata key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaOp {
    /// Sets the key to this value.
    Set(String),
    /// Keeps the key with no value, hiding any static value of the same name.
    Tombstone,
    /// Forgets the key entirely.
    Remove,
}

/// The client's durable state; cheap to share behind an `Arc` across threads.
pub struct StateStore {
    path: PathBuf,
    /// `None` only between closing a database that failed and opening it again.
    db: RwLock<Option<Database>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens or creates `<dir>/state.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        crate::util::fs::create_private_dir(dir, "the state directory")?;
        let path = dir.join(FILE_NAME);
        let fresh = !path.exists();
        let db = open_db(&path)?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        crate::util::fs::warn_if_wider(&path, 0o600, "the state database");

        // Creating every table up front lets readers open them without a "table does not
        // exist" case on a fresh database.
        let txn = db
            .begin_write()
            .context("failed to begin the state schema transaction")?;
        txn.open_table(IDENTITY)
            .context("failed to create the identity table")?;
        txn.open_table(DYNAMIC_META)
            .context("failed to create the dynamic metadata table")?;
        txn.open_table(ALLOCATIONS)
            .context("failed to create the allocations table")?;
        txn.open_table(ACL)
            .context("failed to create the ACL table")?;
        txn.commit()
            .context("failed to commit the state schema transaction")?;

        Ok(Self {
            path,
            db: RwLock::new(Some(db)),
        })
    }

    /// Runs `op` on the database. After a failed write (a full disk) redb refuses every
    /// later operation until the database is closed and opened again, so on an error the
    /// database is reopened and `op` tried once more: once space returns, state can be
    /// written again without restarting the agent. Every operation here may be repeated:
    /// sets and removals are idempotent, and a failed commit changed nothing.
    fn with_db<T>(&self, op: impl Fn(&Database) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let mut last = None;
        for _ in 0..2 {
            let result = match &*self.db.read().unwrap_or_else(PoisonError::into_inner) {
                Some(db) => op(db),
                None => Err(anyhow::anyhow!(
                    "the state database is closed after an I/O error"
                )),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(err) => {
                    self.reopen();
                    last = Some(err);
                }
            }
        }
        Err(last.expect("tried at least once"))
    }

    /// Closes the database and opens it again (redb recovers from the last commit).
    fn reopen(&self) {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The file lock is released only when the old handle is dropped.
        drop(db.take());
        match open_db(&self.path) {
            Ok(opened) => *db = Some(opened),
            Err(err) => tracing::warn!("failed to reopen the state database: {err:#}"),
        }
    }

    /// Returns the node id, generating and persisting a UUID v4 on first call.
    pub fn node_id(&self) -> anyhow::Result<String> {
        self.with_db(|db| identity(db, NODE_ID_KEY, "node id"))
    }

    /// Returns the node's secret, creating and persisting a fresh one on first use.
    pub fn node_secret(&self) -> anyhow::Result<String> {
        self.with_db(|db| identity(db, NODE_SECRET_KEY, "node secret"))
    }

    /// Returns the dynamic node metadata; a `None` value is a tombstone.
    pub fn dynamic_meta(&self) -> anyhow::Result<BTreeMap<String, Option<String>>> {
        self.with_db(|db| {
            let txn = db
                .begin_read()
                .context("failed to begin a read transaction for dynamic metadata")?;
            let table = txn
                .open_table(DYNAMIC_META)
                .context("failed to open the dynamic metadata table")?;
            read_meta(&table)
        })
    }

    /// Applies `changes` in order in one write transaction and returns the resulting map.
    pub fn apply_meta(
        &self,
        changes: &[(String, MetaOp)],
    ) -> anyhow::Result<BTreeMap<String, Option<String>>> {
        // Nothing to write: skip the durable commit and its fsync.
        if changes.is_empty() {
            return self.dynamic_meta();
        }
        self.with_db(|db| apply_meta(db, changes))
    }

    /// Stores (or replaces) the record of allocation `id`.
    pub fn put_allocation(&self, id: &str, doc: &serde_json::Value) -> anyhow::Result<()> {
        let text = serde_json::to_string(doc)
            .with_context(|| format!("failed to encode allocation {id}"))?;
        self.write_allocations(|table| {
            table
                .insert(id, text.as_str())
                .with_context(|| format!("failed to store allocation {id}"))
                .map(drop)
        })
    }

    /// Forgets the record of allocation `id`; absent ids are not an error.
    pub fn remove_allocation(&self, id: &str) -> anyhow::Result<()> {
        self.write_allocations(|table| {
            table
                .remove(id)
                .with_context(|| format!("failed to remove allocation {id}"))
                .map(drop)
        })
    }

    /// One committed write transaction on the allocations table.
    fn write_allocations(
        &self,
        change: impl Fn(&mut redb::Table<'_, &'static str, &'static str>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.with_db(|db| {
            let txn = db
                .begin_write()
                .context("failed to begin a write transaction for an allocation")?;
            {
                let mut table = txn
                    .open_table(ALLOCATIONS)
                    .context("failed to open the allocations table")?;
                change(&mut table)?;
            }
            txn.commit()
                .context("failed to commit an allocation change")
        })
    }

    /// Stores (`Some`) or removes (`None`) one ACL record, in one committed transaction.
    pub fn put_acl(&self, key: &str, value: Option<&str>) -> anyhow::Result<()> {
        self.with_db(|db| {
            let txn = db.begin_write().context("failed to begin an ACL write")?;
            {
                let mut table = txn
                    .open_table(ACL)
                    .context("failed to open the ACL table")?;
                match value {
                    Some(text) => drop(table.insert(key, text)?),
                    None => drop(table.remove(key)?),
                }
            }
            txn.commit().context("failed to commit an ACL change")
        })
    }

    /// Every ACL record, ordered by key.
    pub fn acl_records(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.with_db(|db| {
            let txn = db.begin_read().context("failed to begin an ACL read")?;
            let table = txn
                .open_table(ACL)
                .context("failed to open the ACL table")?;
            let mut out = Vec::new();
            for entry in table.iter().context("failed to list ACL records")? {
                let (key, text) = entry.context("failed to read an ACL record")?;
                out.push((key.value().to_owned(), text.value().to_owned()));
            }
            Ok(out)
        })
    }

    /// Lists every allocation record, ordered by allocation id.
    pub fn allocations(&self) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
        self.with_db(|db| {
            let txn = db
                .begin_read()
                .context("failed to begin a read transaction for allocations")?;
            let table = txn
                .open_table(ALLOCATIONS)
                .context("failed to open the allocations table")?;
            let mut out = Vec::new();
            for entry in table.iter().context("failed to list allocations")? {
                let (id, text) = entry.context("failed to read an allocation record")?;
                let id = id.value().to_owned();
                let doc = serde_json::from_str(text.value())
                    .with_context(|| format!("failed to decode allocation {id}"))?;
                out.push((id, doc));
            }
            Ok(out)
        })
    }
}

/// Opens (or creates) the database file, checking its integrity.
fn open_db(path: &Path) -> anyhow::Result<Database> {
    // A plain open trusts the file and may panic on one damaged outside redb; checking on
    // open turns that into an error instead. The file is small, so the check is cheap.
    Database::builder()
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|err| open_error(path, err))
}

/// [`StateStore::node_id`] on an open database.
/// The identity value under `key` (a random UUID, made once), named `what` in errors.
fn identity(db: &Database, key: &str, what: &str) -> anyhow::Result<String> {
    // The value nearly always exists, so try a cheap read before taking the writer lock.
    {
        let txn = db
            .begin_read()
            .with_context(|| format!("failed to begin a read transaction for the {what}"))?;
        let table = txn
            .open_table(IDENTITY)
            .context("failed to open the identity table")?;
        if let Some(value) = table
            .get(key)
            .with_context(|| format!("failed to read the {what}"))?
        {
            return Ok(value.value().to_owned());
        }
    }

    // Check again under the writer lock so that two first callers agree on one value.
    let txn = db
        .begin_write()
        .with_context(|| format!("failed to begin a write transaction for the {what}"))?;
    let value = {
        let mut table = txn
            .open_table(IDENTITY)
            .context("failed to open the identity table")?;
        let existing = table
            .get(key)
            .with_context(|| format!("failed to read the {what}"))?
            .map(|value| value.value().to_owned());
        match existing {
            Some(value) => value,
            None => {
                let value = uuid::Uuid::new_v4().to_string();
                table
                    .insert(key, value.as_str())
                    .with_context(|| format!("failed to store the {what}"))?;
                value
            }
        }
    };
    txn.commit()
        .with_context(|| format!("failed to commit the {what}"))?;
    Ok(value)
}

/// [`StateStore::apply_meta`] on an open database: one write transaction.
fn apply_meta(
    db: &Database,
    changes: &[(String, MetaOp)],
) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let txn = db
        .begin_write()
        .context("failed to begin a write transaction for dynamic metadata")?;
    let result = {
        let mut table = txn
            .open_table(DYNAMIC_META)
            .context("failed to open the dynamic metadata table")?;
        for (key, op) in changes {
            match op {
                MetaOp::Set(value) => {
                    table
                        .insert(key.as_str(), Some(value.as_str()))
                        .with_context(|| format!("failed to set metadata key {key:?}"))?;
                }
                MetaOp::Tombstone => {
                    table
                        .insert(key.as_str(), None)
                        .with_context(|| format!("failed to tombstone metadata key {key:?}"))?;
                }
                MetaOp::Remove => {
                    table
                        .remove(key.as_str())
                        .with_context(|| format!("failed to remove metadata key {key:?}"))?;
                }
            }
        }
        // Read back inside the same transaction so the answer is exactly what gets committed.
        read_meta(&table)?
    };
    txn.commit()
        .context("failed to commit dynamic metadata changes")?;
    Ok(result)
}

/// The error for a database that did not open; a damaged file gets the way out, because the
/// agent cannot start until someone acts (see `docs/operations.md`).
fn open_error(path: &Path, err: redb::DatabaseError) -> anyhow::Error {
    use redb::{DatabaseError, StorageError};
    let damaged = match &err {
        DatabaseError::RepairAborted | DatabaseError::Storage(StorageError::Corrupted(_)) => true,
        // Not a redb file at all, or one cut short.
        DatabaseError::Storage(StorageError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    };
    let shown = path.display();
    if damaged {
        anyhow::anyhow!(
            "the state database {shown} is damaged ({err}); the agent will not start on it. \
             To start with empty client state, move it aside: `mv {shown} {shown}.damaged` \
             (the node then gets a new node id and forgets its dynamic metadata and allocation \
             records; allocations whose specs are still in the specs directory are placed \
             again). See docs/operations.md"
        )
    } else {
        anyhow::Error::new(err).context(format!("failed to open state database {shown}"))
    }
}

/// Copies the whole metadata table into a map; shared by readers and the writer's read-back.
fn read_meta(
    table: &impl ReadableTable<&'static str, Option<&'static str>>,
) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    for entry in table.iter().context("failed to list dynamic metadata")? {
        let (key, value) = entry.context("failed to read a dynamic metadata entry")?;
        out.insert(key.value().to_owned(), value.value().map(str::to_owned));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
