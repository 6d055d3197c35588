//! The in-memory host: the store's data, built afresh from the fixture for every vector,
//! and its file tree.

mod capabilities;
mod no_relay;

use super::*;

#[derive(Clone)]
pub(crate) enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Fifo,
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) perm: u32,
    pub(crate) modified: Time,
    pub(crate) inode: u64,
    pub(crate) read_error: Option<String>,
}

impl Entry {
    pub(crate) fn info(&self, name: &str) -> filesystem::FileInfo {
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
pub(crate) type Tree = BTreeMap<String, Entry>;

pub(crate) struct MemHost {
    pub(crate) fixture: Fixture,
    pub(crate) dynamic_meta: BTreeMap<String, Option<String>>,
    pub(crate) trees: BTreeMap<String, Tree>,
    pub(crate) collected: Vec<String>,
    /// Each registration, summarised as `docs/vectors.md` says.
    pub(crate) registered: Vec<Value>,
    /// Each `restart` and `signal` the core asked for, as `docs/vectors.md` says.
    pub(crate) lifecycle: Vec<Value>,
    pub(crate) bootstrapped: bool,
    pub(crate) compiled: Vec<policy::CompiledPolicy>,
    pub(crate) logs: Vec<(String, String)>,
    pub(crate) watched: Vec<String>,
    pub(crate) live_subscriptions: u32,
    pub(crate) next_subscription: u32,
    /// Open listings: the entries and how many were handed out, by handle.
    pub(crate) listings: BTreeMap<u32, (Vec<filesystem::FileInfo>, usize)>,
    pub(crate) next_listing: u32,
    pub(crate) next_step_inode: u64,
}

impl MemHost {
    pub(crate) fn new(fixture: &Fixture) -> Self {
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
            listings: BTreeMap::new(),
            next_listing: 0,
            next_step_inode: STEP_INODE_BASE,
        }
    }

    pub(crate) fn tree(&self, alloc_id: &str) -> Result<&Tree, filesystem::FsError> {
        self.trees
            .get(alloc_id)
            .filter(|_| !self.collected.iter().any(|c| c == alloc_id))
            .ok_or(filesystem::FsError::NotFound)
    }

    /// Apply a step's change to the first allocation's directory.
    pub(crate) fn change(&mut self, step: &StepSpec) -> Result<(), String> {
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

pub(crate) fn build_tree(alloc: &AllocFixture, modified: Time) -> Tree {
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

pub(crate) fn dir_entry(modified: Time) -> Entry {
    Entry {
        kind: Kind::Dir,
        perm: 0o755,
        modified,
        inode: 0,
        read_error: None,
    }
}

/// Directories implied by a path exist even when the fixture does not list them.
pub(crate) fn add_parents(tree: &mut Tree, path: &str, modified: Time) {
    let parts: Vec<&str> = path.split('/').collect();
    for end in 1..parts.len() {
        tree.entry(parts[..end].join("/"))
            .or_insert_with(|| dir_entry(modified));
    }
}

pub(crate) fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

/// Resolve `path` inside the tree, following symlinks (the last one only if `follow_last`),
/// refusing to climb above the root or to follow an absolute link.
pub(crate) fn resolve(
    tree: &Tree,
    path: &str,
    follow_last: bool,
) -> Result<String, filesystem::FsError> {
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

pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}
