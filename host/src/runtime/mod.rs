//! The wasm side of the daemon: one engine, the checks a core passes before it may serve,
//! the active core as an immutable snapshot, and a fresh store per request.
//!
//! A request loads the snapshot once and finishes on it, so replacing the snapshot (hot
//! swap) never disturbs requests in flight. A trap ends only its own request.

mod cache;
mod checks;
mod decision;
pub mod native;
mod sandbox;
#[cfg(test)]
mod tests;
pub mod triggers;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use arc_swap::ArcSwap;
use serde::Serialize;

use crate::capabilities::{CoreState, HostContext};
use crate::util::lock;
use crate::wit::policy::CompiledPolicy;
use crate::wit::{CorePre, handler, types};
pub use decision::{Core, Decided, Decision, Pull};
pub use sandbox::{CoreCall, Sandbox};

/// The default core, built from `core/` by `build.rs`.
pub const DEFAULT_CORE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/core.wasm"));

/// The faulty test core, built beside the real one; only the isolation tests load it
/// (through `caravan agent -core`), never the daemon by itself.
pub const FAULTY_TEST_CORE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/faulty-core.wasm"));

/// A test core whose instantiation traps, for the test proving such a candidate is rejected.
pub const START_TRAP_TEST_CORE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/start-trap-core.wasm"));

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How long a call may run (host calls included) unless configured otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest component accepted as a core, whichever way it arrives.
pub const MAX_CORE_SIZE: usize = 64 << 20;

/// How the engine runs cores.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The deadline of each call into a core.
    pub call_timeout: Duration,
    /// Where compiled cores are kept between runs; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            call_timeout: DEFAULT_CALL_TIMEOUT,
            cache_dir: None,
        }
    }
}

/// A compiled, linked and started core.
pub struct LoadedCore {
    pre: CorePre<CoreState>,
    /// The version string the core reports.
    pub version: String,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// When it began serving new requests.
    pub loaded_at: SystemTime,
    /// How long compiling it took, or `None` when it came from the compiled cache (for
    /// the log, which tells operators whether the cache works).
    pub compiled: Option<Duration>,
}

/// Why a candidate core may not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Why it was turned away.
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Rejection {}

/// What asked for a swap, for the log.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// The `-core` file changed on disk.
    File,
    /// SIGHUP.
    Signal,
    /// `PUT /v1/agent/core` from this peer.
    Admin(SocketAddr),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::File => f.write_str("the core file changed"),
            Trigger::Signal => f.write_str("SIGHUP"),
            Trigger::Admin(peer) => write!(f, "admin call from {peer}"),
        }
    }
}

/// The result of a swap that passed every check.
pub enum SwapOutcome {
    /// The candidate now serves new requests.
    Swapped(Arc<LoadedCore>),
    /// The candidate is the core already serving.
    Unchanged(Arc<LoadedCore>),
}

/// Swaps so far and the last candidate turned away, for `GET /v1/agent/core`.
#[derive(Default)]
struct SwapRecord {
    swaps: u64,
    last_rejected: Option<(Rejection, SystemTime)>,
}

/// The agent's wasm core: the active one behind an atomic swap, the sandbox that runs it, and its swap history.
pub struct Runtime {
    sandbox: Sandbox,
    active: ArcSwap<LoadedCore>,
    /// Held for a whole swap, so candidates are checked and installed one at a time.
    swap_lock: Mutex<()>,
    /// Apart from `swap_lock`, so reading the status never waits for a compile.
    record: Mutex<SwapRecord>,
}

impl Runtime {
    /// Load the first core. Failing to compile, link or start is fatal: there is nothing
    /// else to serve. A failed self-check is only logged: the operator named this core
    /// explicitly, and refusing to start would turn wrong answers on some routes into no
    /// answers on all of them. Swaps, which have a working core to keep, are strict.
    pub fn start(sandbox: Sandbox, bytes: &[u8]) -> Result<Self> {
        let core = sandbox.load(bytes).map_err(|rejection| {
            anyhow::anyhow!("core {} rejected: {rejection}", rejection.sha256)
        })?;
        if let Err(reason) = sandbox.self_check(&core) {
            tracing::warn!(
                "core {} (sha256 {}) {reason}; serving it anyway because it was named at start-up, but a swap to it would be rejected",
                core.version,
                core.sha256
            );
        }
        sandbox.remember(&core);
        Ok(Self {
            sandbox,
            active: ArcSwap::from_pointee(core),
            swap_lock: Mutex::new(()),
            record: Mutex::new(SwapRecord::default()),
        })
    }

    /// The core serving new requests.
    pub fn active(&self) -> Arc<LoadedCore> {
        self.active.load_full()
    }

    /// Answer one request on `core` (see [`Sandbox::handle`]).
    pub fn handle(
        &self,
        core: &LoadedCore,
        request: &types::Request,
    ) -> Result<(handler::Action, CoreCall)> {
        self.sandbox.handle(core, request)
    }

    /// Compile an ACL policy with the active core.
    pub fn compile_policy(&self, name: &str, text: &str) -> Result<CompiledPolicy, String> {
        self.sandbox.compile_policy(&self.active(), name, text)
    }

    /// The host context the capabilities share.
    pub fn context(&self) -> Arc<HostContext> {
        self.sandbox.ctx.clone()
    }

    /// Check a candidate fully, then make it the core for new requests with one pointer
    /// store; requests in flight finish on the core they started with. On rejection the
    /// active core is untouched. Blocking (it compiles): call it off the async executor.
    pub fn swap(&self, bytes: &[u8], trigger: Trigger) -> Result<SwapOutcome, Rejection> {
        let _one_at_a_time = lock(&self.swap_lock);
        let started = Instant::now();
        let mut candidate = match self.sandbox.prepare(bytes) {
            Ok(core) => core,
            Err(rejection) => {
                let serving = self.active();
                tracing::warn!(
                    "core candidate {} rejected ({trigger}): {rejection}; still serving {} (sha256 {})",
                    rejection.sha256,
                    serving.version,
                    serving.sha256
                );
                lock(&self.record).last_rejected = Some((rejection.clone(), SystemTime::now()));
                crate::metrics::global().core_swaps.incr(&["rejected"]);
                return Err(rejection);
            }
        };
        // Passed every check: accepted, whether or not it differs from the one serving.
        crate::metrics::global().core_swaps.incr(&["accepted"]);
        let previous = self.active();
        if previous.sha256 == candidate.sha256 {
            tracing::info!(
                "core {} (sha256 {}) re-checked ({trigger}): unchanged",
                previous.version,
                previous.sha256
            );
            return Ok(SwapOutcome::Unchanged(previous));
        }
        candidate.loaded_at = SystemTime::now();
        let candidate = Arc::new(candidate);
        {
            // Under the record's lock, so a status never shows the new core with the old
            // swap count.
            let mut record = lock(&self.record);
            self.active.store(candidate.clone());
            record.swaps += 1;
        }
        let how = match candidate.compiled {
            Some(took) => format!("compiled in {took:.0?}"),
            None => "from the compiled cache".into(),
        };
        tracing::info!(
            "core swapped ({trigger}): {} (sha256 {}) -> {} (sha256 {}) in {:.0?}, {how}",
            previous.version,
            previous.sha256,
            candidate.version,
            candidate.sha256,
            started.elapsed()
        );
        self.sandbox.remember(&candidate);
        // Policies are compiled by the core: the new one compiles them again.
        self.sandbox
            .ctx
            .acl
            .reload(|name, text| self.compile_policy(name, text));
        Ok(SwapOutcome::Swapped(candidate))
    }

    /// What `GET /v1/agent/core` reports.
    pub fn status(&self) -> CoreStatus {
        let record = lock(&self.record);
        let core = self.active();
        CoreStatus {
            version: core.version.clone(),
            sha256: core.sha256.clone(),
            loaded_at: crate::util::time::rfc3339(core.loaded_at),
            swaps: record.swaps,
            last_rejected: record
                .last_rejected
                .as_ref()
                .map(|(rejection, at)| RejectedCore {
                    sha256: rejection.sha256.clone(),
                    reason: rejection.reason.clone(),
                    at: crate::util::time::rfc3339(*at),
                }),
        }
    }
}

/// The active core and the swap history, in Nomad's PascalCase.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoreStatus {
    /// The active core's version string.
    pub version: String,
    /// The SHA-256 of its bytes, hex.
    #[serde(rename = "SHA256")]
    pub sha256: String,
    /// When it began serving (RFC 3339, UTC).
    pub loaded_at: String,
    /// How many swaps installed another core since the agent started.
    pub swaps: u64,
    /// The last candidate turned away, if any.
    pub last_rejected: Option<RejectedCore>,
}

/// The last candidate turned away and why.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RejectedCore {
    /// The SHA-256 of its bytes, hex.
    #[serde(rename = "SHA256")]
    pub sha256: String,
    /// Why it was turned away.
    pub reason: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// The wasm core: each request on a fresh instance of the core serving when it arrived.
impl Core for Runtime {
    fn decide(&self, request: &types::Request) -> Result<Decided> {
        let core = self.active();
        let (action, call) = self.handle(&core, request)?;
        let decision = match action {
            handler::Action::Respond(response) => Decision::Respond(response),
            handler::Action::SendFile(send) => Decision::SendFile(send),
            handler::Action::Stream(start) => Decision::Stream {
                status: start.status,
                headers: start.headers,
                body: Box::new(WasmBody {
                    call,
                    body: start.body,
                }),
            },
            handler::Action::Forward(node) => Decision::Forward(node),
            handler::Action::Exec(exec) => Decision::Exec(exec),
        };
        Ok(Decided {
            decision,
            version: core.version.clone(),
        })
    }

    fn version(&self) -> String {
        self.active().version.clone()
    }
}

/// The wasm core's streamed body: the resource and the instance (store) that owns it.
struct WasmBody {
    call: CoreCall,
    body: wasmtime::component::ResourceAny,
}

impl Pull for WasmBody {
    fn next(&mut self, now_ms: u64) -> Result<handler::Step> {
        self.call.next(self.body, now_ms)
    }

    fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.call.waker()
    }
}
