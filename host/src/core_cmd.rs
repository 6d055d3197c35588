//! `caravan core check FILE` and `caravan core swap FILE`: validating a core offline, and
//! asking a running agent to swap to one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::alloc_fs::AllocFs;
use crate::allocs::Registry;
use crate::capabilities::HostContext;
use crate::config::default_static_meta;
use crate::runtime::{MAX_CORE_SIZE, RuntimeOptions, Sandbox};
use crate::state::StateStore;
use crate::stats::HostStats;

/// Run every check a swap runs, against a throwaway agent state; `Ok(false)` on rejection.
pub fn check(path: &Path) -> Result<bool> {
    let bytes = read_core_file(path)?;
    let scratch = tempfile::Builder::new()
        .prefix("caravan-core-check-")
        .tempdir()?;
    let sandbox = Sandbox::new(scratch_context(scratch.path())?, &RuntimeOptions::default())?;
    let started = Instant::now();
    match sandbox.prepare(&bytes) {
        Ok(core) => {
            println!(
                "{}: ok: core {} (sha256 {}) passed every check in {:.0?}",
                path.display(),
                core.version,
                core.sha256,
                started.elapsed()
            );
            Ok(true)
        }
        Err(rejection) => {
            println!(
                "{}: rejected (sha256 {}): {rejection}",
                path.display(),
                rejection.sha256
            );
            Ok(false)
        }
    }
}

/// Send the component to the agent at `NOMAD_ADDR` and print what it says.
pub fn swap(path: &Path) -> Result<()> {
    let bytes = read_core_file(path)?;
    let (status, body) = crate::api_client::call("PUT", "/v1/agent/core", &bytes)?;
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        let reason =
            hyper::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
        bail!("the agent refused the core ({reason}): {}", text.trim());
    }
    let reply: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("the agent answered something other than JSON: {text}"))?;
    println!(
        "serving core {} (sha256 {}); swaps since start: {}",
        reply["Version"].as_str().unwrap_or("?"),
        reply["SHA256"].as_str().unwrap_or("?"),
        reply["Swaps"]
    );
    Ok(())
}

/// A core file, refused early when it could never be accepted.
fn read_core_file(path: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() > MAX_CORE_SIZE {
        bail!(
            "{} is larger than the {} MiB a core may be",
            path.display(),
            MAX_CORE_SIZE >> 20
        );
    }
    Ok(bytes)
}

/// A host context over an empty data dir, so the self-check's requests (which only read)
/// have something to read without touching a real agent's state.
pub(crate) fn scratch_context(dir: &Path) -> Result<Arc<HostContext>> {
    let alloc_root = dir.join("alloc");
    std::fs::create_dir_all(&alloc_root)?;
    let state = Arc::new(StateStore::open(&dir.join("client"))?);
    // Nothing reads stats during a check; sample rarely.
    let rarely = Duration::from_secs(3600);
    let registry = Arc::new(Registry::open(
        &alloc_root,
        &dir.join("specs"),
        state.clone(),
        rarely,
    )?);
    Ok(Arc::new(HostContext {
        node_id: state.node_id()?,
        static_meta: default_static_meta(),
        state,
        registry,
        fs: AllocFs::new(&alloc_root).context("failed to open the alloc dir")?,
        stats: HostStats::start(alloc_root, rarely),
        follower: crate::follow::Follower::new()?,
        acl: crate::acl_store::AclStore::open(&dir.join("acl"), false)?,
        roles: crate::bindings::cluster::AgentRoles {
            server: false,
            client: true,
        },
        cluster: crate::cluster::Cluster::default(),
        node_name: "check".into(),
        datacenter: "dc1".into(),
        http_addr: std::sync::OnceLock::new(),
    }))
}
