//! Keeping the placed allocations in line with the specs directory: place new specs,
//! replace changed ones, stop those whose file is gone, hold an allocation whose file is
//! caught unreadable, and remember (by tombstone) what was collected while its file stays.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::layout;
use super::persist;
use super::record::CollectError;
use super::spec::{AllocSpec, read_spec};
use super::supervisor::{Alloc, AllocsContext};

/// The allocations of this node, locked together so that placing and collecting see one
/// consistent picture.
#[derive(Default)]
pub(super) struct Allocs {
    pub placed: BTreeMap<String, Arc<Alloc>>,
    /// Specs of allocations collected while their spec file remained (an allocation runs
    /// once); forgotten when the file goes or changes.
    pub collected: BTreeMap<String, AllocSpec>,
    /// Which allocation each spec file last described, so that a file caught half-written
    /// (or broken by an edit) holds its allocation as it is instead of stopping it.
    pub files: BTreeMap<PathBuf, String>,
}

/// What the specs directory holds.
pub(super) struct SpecFiles {
    specs: BTreeMap<String, AllocSpec>,
    /// Good files and the allocation each describes.
    files: BTreeMap<PathBuf, String>,
    /// Files that did not read as a valid spec.
    unreadable: Vec<PathBuf>,
}

impl SpecFiles {
    /// Read every `*.json` file of `dir`; bad files are logged and listed as unreadable.
    pub(super) fn read(dir: &Path) -> std::io::Result<Self> {
        let mut found = Self {
            specs: BTreeMap::new(),
            files: BTreeMap::new(),
            unreadable: Vec::new(),
        };
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match read_spec(&path) {
                Ok(spec) => {
                    // Looked up by id first: a scan of the files per spec made every rescan
                    // quadratic in the number of specs (docs/performance.md, issue 29).
                    if found.specs.contains_key(&spec.id)
                        && let Some(other) = found.files.iter().find(|(_, id)| **id == spec.id)
                    {
                        tracing::warn!(
                            "specs {} and {} both describe allocation {}; one is ignored",
                            other.0.display(),
                            path.display(),
                            spec.id
                        );
                    }
                    found.files.insert(path, spec.id.clone());
                    found.specs.insert(spec.id.clone(), spec);
                }
                Err(err) => {
                    tracing::warn!("skipping spec {}: {err:#}", path.display());
                    found.unreadable.push(path);
                }
            }
        }
        Ok(found)
    }
}

impl Allocs {
    /// Bring the allocations in line with what the specs directory holds.
    pub(super) fn reconcile(&mut self, shared: &Arc<AllocsContext>, found: SpecFiles) {
        let specs = found.specs;
        let mut files = found.files;
        let mut held = BTreeSet::new();
        for path in found.unreadable {
            if let Some(id) = self.files.get(&path) {
                tracing::warn!("allocation {id}: kept as it is while its spec file is unreadable");
                held.insert(id.clone());
                files.insert(path, id.clone());
            }
        }
        self.files = files;
        let gone: Vec<String> = self
            .collected
            .iter()
            .filter(|(id, spec)| specs.get(*id) != Some(spec) && !held.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.collected.remove(&id);
            if let Err(err) = shared.state.remove_allocation(&id) {
                tracing::error!("failed to forget collected allocation {id}: {err:#}");
            }
        }
        for spec in specs.values() {
            if self.collected.contains_key(&spec.id) {
                continue;
            }
            let previous = self.placed.get(&spec.id).cloned();
            if let Some(previous) = &previous
                && previous.spec == *spec
            {
                previous.live().in_specs = true;
                continue;
            }
            if let Some(previous) = &previous {
                tracing::info!("allocation {}: spec changed, replacing it", spec.id);
                previous.live().detached = true;
                previous.stop(shared);
            }
            match Alloc::place(shared, spec) {
                Ok(alloc) => {
                    tracing::info!("placed allocation {} (job {:?})", spec.id, spec.job_id);
                    self.placed.insert(spec.id.clone(), alloc.clone());
                    alloc.start(shared, previous);
                }
                Err(err) => tracing::error!("failed to place allocation {}: {err:#}", spec.id),
            }
        }
        for (id, alloc) in &self.placed {
            if specs.contains_key(id) || held.contains(id) {
                continue;
            }
            alloc.live().in_specs = false;
            if !alloc.live().stopping {
                tracing::info!("allocation {id}: spec removed, stopping it");
                alloc.stop(shared);
            }
        }
    }

    /// The allocation `id` if it may be collected: placed here and terminal.
    pub(super) fn collectable(&self, id: &str) -> Result<Arc<Alloc>, CollectError> {
        match self.placed.get(id) {
            None => Err(CollectError::NotFound),
            Some(alloc) if !alloc.live().record.client_status.is_terminal() => {
                Err(CollectError::NotTerminal)
            }
            Some(alloc) => Ok(alloc.clone()),
        }
    }

    /// Forget `alloc`, whose tasks are all over: remove its directory and its state,
    /// leaving a tombstone while its spec file stays.
    pub(super) fn forget(
        &mut self,
        shared: &AllocsContext,
        id: &str,
        alloc: &Arc<Alloc>,
    ) -> Result<(), CollectError> {
        match self.placed.get(id) {
            // Collected meanwhile by another request.
            None => return Ok(()),
            Some(current) if !Arc::ptr_eq(current, alloc) => {
                return Err(CollectError::Failed(format!(
                    "allocation {id} was replaced meanwhile"
                )));
            }
            Some(_) => {}
        }
        let in_specs = {
            let mut live = alloc.live();
            live.detached = true;
            live.in_specs
        };
        let dir = layout::alloc_dir(&shared.alloc_root, id);
        if let Err(err) = std::fs::remove_dir_all(&dir)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            return Err(CollectError::Failed(format!(
                "failed to remove the allocation directory: {err}"
            )));
        }
        let forgotten = if in_specs {
            persist::tombstone(&shared.state, &alloc.spec)
        } else {
            shared.state.remove_allocation(id)
        };
        forgotten.map_err(|e| {
            CollectError::Failed(format!("failed to remove the allocation state: {e:#}"))
        })?;
        self.placed.remove(id);
        if in_specs {
            self.collected.insert(id.to_owned(), alloc.spec.clone());
        }
        tracing::info!("garbage-collected allocation {id}");
        Ok(())
    }
}
