//! How allocations are kept in the state store: per allocation id either its record or,
//! once collected while its spec file stays, a tombstone holding the spec (so the same spec
//! is not placed again).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::record::AllocRecord;
use super::spec::AllocSpec;
use crate::store::StateStore;

/// What the state store holds per allocation id.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Record(AllocRecord),
    /// Collected while its spec file stays: the id is not placed again for the same spec.
    Collected {
        #[serde(rename = "Collected")]
        spec: AllocSpec,
    },
}

/// What an agent finds in the state store when it starts.
pub(super) struct Loaded {
    pub records: Vec<AllocRecord>,
    /// Tombstones: the specs of allocations collected while their spec file stayed.
    pub collected: BTreeMap<String, AllocSpec>,
}

/// Read every allocation's state; entries that do not read (or do not match their id) are
/// logged and skipped.
pub(super) fn load(state: &StateStore) -> Result<Loaded> {
    let mut loaded = Loaded {
        records: Vec::new(),
        collected: BTreeMap::new(),
    };
    for (id, doc) in state.allocations()? {
        match serde_json::from_value::<Stored>(doc) {
            Ok(Stored::Record(record)) if record.spec.id == id => loaded.records.push(record),
            Ok(Stored::Collected { spec }) if spec.id == id => {
                loaded.collected.insert(id, spec);
            }
            Ok(_) => tracing::warn!("ignoring the state of allocation {id}: its id does not match"),
            Err(err) => tracing::warn!("ignoring unreadable state of allocation {id}: {err}"),
        }
    }
    Ok(loaded)
}

/// Write an allocation's record; a failure is logged (the allocation goes on).
pub(super) fn persist(state: &StateStore, record: &AllocRecord) {
    let stored = serde_json::to_value(record)
        .map_err(anyhow::Error::from)
        .and_then(|doc| state.put_allocation(&record.spec.id, &doc));
    if let Err(err) = stored {
        tracing::error!("failed to persist allocation {}: {err:#}", record.spec.id);
    }
}

/// Replace a collected allocation's record with a tombstone of its spec.
pub(super) fn tombstone(state: &StateStore, spec: &AllocSpec) -> Result<()> {
    let tombstone = Stored::Collected { spec: spec.clone() };
    let doc = serde_json::to_value(&tombstone)?;
    state.put_allocation(&spec.id, &doc)
}
