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
    relay, stats, types,
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

mod fixture;
mod mem_host;
mod run;

use fixture::*;
use mem_host::*;
use run::*;

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
