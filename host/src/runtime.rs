//! The wasm side of the daemon: one engine, the checks a core passes before it may serve,
//! the active core as an immutable snapshot, and a fresh store per request.
//!
//! A request loads the snapshot once and finishes on it, so replacing the snapshot (hot
//! swap) never disturbs requests in flight. A trap ends only its own request.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::error::Context as _;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
    Trap,
};

use crate::bindings::policy::CompiledPolicy;
use crate::bindings::{Core, CorePre, handler, types};
use crate::capabilities::{CoreState, HostContext};
use crate::core_cache::CoreCache;

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
/// Linear memory one instance may grow to.
const MAX_MEMORY: usize = 64 << 20;
/// Instances of the core alive at once: one per request in flight and per open stream, so
/// above the default `-max-streams` (1,024) with room for ordinary requests.
const MAX_INSTANCES: u32 = 1_536;
/// A component instance of our core is several core-wasm instances (the module and
/// wit-component's adapter shims), each counted by the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 4;
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
    pub version: String,
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
    pub sha256: String,
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

/// The engine and everything needed to check and run a core, without an active core:
/// `caravan core check` uses it alone.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<CoreState>,
    ctx: Arc<HostContext>,
    call_timeout: Duration,
    call_ticks: u64,
    cache: Option<CoreCache>,
    ticker: Arc<AtomicBool>,
}

impl Sandbox {
    /// Build the engine, link the host's interfaces and start the epoch.
    pub fn new(ctx: Arc<HostContext>, options: &RuntimeOptions) -> Result<Self> {
        let engine = Engine::new(&engine_config()).context("failed to create the wasm engine")?;
        let mut linker = Linker::new(&engine);
        Core::add_to_linker::<CoreState, HasSelf<CoreState>>(&mut linker, |state| state)
            .context("failed to link the host interfaces")?;
        let cache =
            options
                .cache_dir
                .as_ref()
                .and_then(|dir| match CoreCache::open(dir, &engine) {
                    Ok(cache) => Some(cache),
                    Err(err) => {
                        crate::warn!("core cache disabled: {err:#}");
                        None
                    }
                });
        let ticker = Arc::new(AtomicBool::new(true));
        start_epoch_ticker(engine.clone(), ticker.clone());
        Ok(Self {
            engine,
            linker,
            ctx,
            call_timeout: options.call_timeout,
            call_ticks: (options.call_timeout.div_duration_f64(EPOCH_TICK).ceil() as u64).max(1),
            cache,
            ticker,
        })
    }

    /// Every check a core passes before it may serve: it is a component, compiles, matches
    /// the world the host links, starts, and answers the self-check's requests correctly.
    pub fn prepare(&self, bytes: &[u8]) -> Result<LoadedCore, Rejection> {
        let core = self.load(bytes)?;
        self.self_check(&core).map_err(|reason| Rejection {
            sha256: core.sha256.clone(),
            reason,
        })?;
        Ok(core)
    }

    /// Compile (or fetch from the cache), link and start a core.
    fn load(&self, bytes: &[u8]) -> Result<LoadedCore, Rejection> {
        let sha256 = hex(&Sha256::digest(bytes));
        let reject = |reason: String| Rejection {
            sha256: sha256.clone(),
            reason,
        };
        check_header(bytes).map_err(reject)?;
        let (component, compiled) = self.compile(bytes, &sha256).map_err(reject)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|err| {
            reject(format!(
                "does not fit the host's caravan:client world: {err:#}"
            ))
        })?;
        let pre = CorePre::new(pre)
            .map_err(|err| reject(format!("does not export caravan:client/handler: {err:#}")))?;
        let mut store = self.new_store();
        let instance = pre
            .instantiate(&mut store)
            .map_err(|err| reject(format!("failed to start: {}", self.explain(err))))?;
        let version = instance
            .caravan_client_handler()
            .call_version(&mut store)
            .map_err(|err| reject(format!("its version call failed: {}", self.explain(err))))?;
        Ok(LoadedCore {
            pre,
            version,
            sha256,
            loaded_at: SystemTime::now(),
            compiled,
        })
    }

    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<(Component, Option<Duration>), String> {
        if let Some(component) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&self.engine, sha256))
        {
            return Ok((component, None));
        }
        let started = Instant::now();
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|err| format!("not a valid wasm component: {err:#}"))?;
        Ok((component, Some(started.elapsed())))
    }

    /// Keep a freshly compiled core's machine code for the next start or swap. A cache
    /// that cannot be written costs only speed, so failures are logged, not returned.
    fn remember(&self, core: &LoadedCore) {
        let Some(cache) = &self.cache else { return };
        if core.compiled.is_none() {
            return;
        }
        if let Err(err) = cache.put(&core.sha256, core.pre.instance_pre().component()) {
            crate::warn!("core cache: failed to store core {}: {err:#}", core.sha256);
        }
    }

    /// Requests with known answers, each in a fresh store under the call deadline. They
    /// read state but never change it, so checking a candidate cannot disturb the agent.
    fn self_check(&self, core: &LoadedCore) -> Result<(), String> {
        for probe in SELF_CHECK {
            let request = types::Request {
                method: "GET".into(),
                path: probe.path.into(),
                query: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            };
            let failed = |why: String| format!("failed the self-check: GET {}: {why}", probe.path);
            let (action, _) = self
                .handle(core, &request)
                .map_err(|err| failed(format!("{err:#}")))?;
            let handler::Action::Respond(response) = action else {
                return Err(failed(
                    "answered with something other than a response".into(),
                ));
            };
            (probe.expect)(&response).map_err(|expected| {
                failed(format!(
                    "expected {expected}, got {} {:?}",
                    response.status,
                    abbreviate(&response.body)
                ))
            })?;
        }
        Ok(())
    }

    /// Answer one request on `core` in a fresh store. Blocking: call it off the async
    /// executor. An error is a trap or a host fault, never a user error. The returned call
    /// keeps the instance for a streamed body; otherwise it is simply dropped.
    pub fn handle(
        &self,
        core: &LoadedCore,
        request: &types::Request,
    ) -> Result<(handler::Action, CoreCall)> {
        let mut store = self.new_store();
        let instance = core.pre.instantiate(&mut store).map_err(|err| {
            anyhow::anyhow!("failed to instantiate the core: {}", self.explain(err))
        })?;
        let action = instance
            .caravan_client_handler()
            .call_handle(&mut store, request)
            .map_err(|err| anyhow::anyhow!("{}", self.explain(err)))?;
        Ok((
            action,
            CoreCall {
                store,
                instance,
                call_ticks: self.call_ticks,
            },
        ))
    }

    /// Compile an ACL policy with `core` (policy semantics live in the core).
    fn compile_policy(
        &self,
        core: &LoadedCore,
        name: &str,
        text: &str,
    ) -> Result<CompiledPolicy, String> {
        let mut store = self.new_store();
        let instance = core
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("the core failed to start: {e}"))?;
        instance
            .caravan_client_handler()
            .call_compile_policy(&mut store, name, text)
            .map_err(|e| format!("the core failed compiling the policy: {}", self.explain(e)))?
    }

    /// A trap's message on one line (wasmtime's carries a multi-line backtrace), naming the
    /// deadline when that is what stopped the call (wasmtime only says "interrupt").
    fn explain(&self, err: wasmtime::Error) -> String {
        let message = format!("{err:#}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            format!(
                "stopped at the call deadline ({}): {message}",
                crate::duration::format(self.call_timeout)
            )
        } else {
            message
        }
    }

    fn new_store(&self) -> Store<CoreState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(MAX_MEMORY)
            .instances(4)
            .build();
        let mut store = Store::new(&self.engine, CoreState::new(self.ctx.clone(), limits));
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.call_ticks);
        store
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

/// One request of the self-check and what a correct core answers (Nomad's behaviour, which
/// every caravan core keeps). `expect` returns what was expected when the answer is wrong.
struct Probe {
    path: &'static str,
    expect: fn(&types::Response) -> Result<(), &'static str>,
}

const SELF_CHECK: [Probe; 3] = [
    Probe {
        path: "/v1/caravan/self-check/unknown-route",
        expect: |r| match (r.status, r.body.is_empty()) {
            (404, true) => Ok(()),
            _ => Err("404 with an empty body"),
        },
    },
    Probe {
        path: "/v1/client/fs/ls/",
        expect: |r| match (r.status, r.body.as_slice()) {
            (400, b"must provide a valid alloc id") => Ok(()),
            _ => Err("400 \"must provide a valid alloc id\""),
        },
    },
    Probe {
        path: "/v1/client/metadata",
        expect: |r| {
            let body: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let has = |key: &str| body.as_ref().is_some_and(|b| b[key].is_object());
            if r.status == 200 && has("Meta") && has("Static") && has("Dynamic") {
                Ok(())
            } else {
                Err("200 with a JSON object holding Meta, Static and Dynamic")
            }
        },
    },
];

/// The first bytes of a body, enough to recognise it in a rejection message.
fn abbreviate(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// Name the two most common wrong inputs plainly, before the compiler's messages.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() > MAX_CORE_SIZE {
        return Err(format!(
            "the component is larger than {} MiB",
            MAX_CORE_SIZE >> 20
        ));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not WebAssembly (no \\0asm header)".into());
    }
    // A component's header has layer 1 in bytes 6..8; a core module's has 0.
    if bytes[6..8] == [0, 0] {
        return Err(
            "a core wasm module, not a component: componentize it for the caravan:client world"
                .into(),
        );
    }
    Ok(())
}

/// Swaps so far and the last candidate turned away, for `GET /v1/agent/core`.
#[derive(Default)]
struct SwapRecord {
    swaps: u64,
    last_rejected: Option<(Rejection, SystemTime)>,
}

/// The sandbox plus the core serving new requests.
/// One request's instance of the core, kept while a streamed body is pulled from it.
pub struct CoreCall {
    store: Store<CoreState>,
    instance: Core,
    call_ticks: u64,
}

impl CoreCall {
    /// Pull the next part of a streamed body. Blocking, like [`Runtime::handle`]; each pull
    /// gets a fresh deadline, so a stream may last as long as its client stays.
    pub fn next(&mut self, body: ResourceAny, now_ms: u64) -> Result<handler::Step> {
        self.store.set_epoch_deadline(self.call_ticks);
        let step = self
            .instance
            .caravan_client_handler()
            .body_stream()
            .call_next(&mut self.store, body, now_ms)?;
        Ok(step)
    }

    /// Woken when a path the stream follows changes.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.store.data().waker.clone()
    }
}

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
            crate::warn!(
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
                crate::warn!(
                    "core candidate {} rejected ({trigger}): {rejection}; still serving {} (sha256 {})",
                    rejection.sha256,
                    serving.version,
                    serving.sha256
                );
                lock(&self.record).last_rejected = Some((rejection.clone(), SystemTime::now()));
                return Err(rejection);
            }
        };
        let previous = self.active();
        if previous.sha256 == candidate.sha256 {
            crate::info!(
                "core {} (sha256 {}) re-checked ({trigger}): unchanged",
                previous.version,
                previous.sha256
            );
            return Ok(SwapOutcome::Unchanged(previous));
        }
        candidate.loaded_at = SystemTime::now();
        let candidate = Arc::new(candidate);
        self.active.store(candidate.clone());
        lock(&self.record).swaps += 1;
        let how = match candidate.compiled {
            Some(took) => format!("compiled in {took:.0?}"),
            None => "from the compiled cache".into(),
        };
        crate::info!(
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
        let core = self.active();
        let record = lock(&self.record);
        CoreStatus {
            version: core.version.clone(),
            sha256: core.sha256.clone(),
            loaded_at: crate::logging::rfc3339(core.loaded_at),
            swaps: record.swaps,
            last_rejected: record
                .last_rejected
                .as_ref()
                .map(|(rejection, at)| RejectedCore {
                    sha256: rejection.sha256.clone(),
                    reason: rejection.reason.clone(),
                    at: crate::logging::rfc3339(*at),
                }),
        }
    }
}

/// The active core and the swap history, in Nomad's PascalCase.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoreStatus {
    pub version: String,
    #[serde(rename = "SHA256")]
    pub sha256: String,
    pub loaded_at: String,
    pub swaps: u64,
    pub last_rejected: Option<RejectedCore>,
}

/// The last candidate turned away and why.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RejectedCore {
    #[serde(rename = "SHA256")]
    pub sha256: String,
    pub reason: String,
    pub at: String,
}

/// A poisoned lock only means another swap panicked; the data it guards is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn engine_config() -> Config {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(MAX_MEMORY);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(512 << 10)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
}

/// The epoch only moves while this thread runs; it stops when the sandbox is dropped.
fn start_epoch_ticker(engine: Engine, running: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("failed to start the epoch ticker thread");
}

/// Lower-case hex, as sha256sum prints digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_imports_nothing_but_caravan_interfaces() {
        let engine = Engine::new(&engine_config()).unwrap();
        let component = Component::new(&engine, DEFAULT_CORE).unwrap();
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        println!(
            "core component: {} bytes, imports {imports:?}",
            DEFAULT_CORE.len()
        );
        assert!(
            imports
                .iter()
                .any(|name| name == "caravan:client/filesystem@0.1.0")
        );
        for name in &imports {
            assert!(
                name.starts_with("caravan:client/") && name.ends_with("@0.1.0"),
                "the core imports {name}, which is not part of caravan's contract"
            );
        }
        let exports: Vec<String> = ty
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(exports, ["caravan:client/handler@0.1.0"]);
    }

    fn sandbox(dir: &std::path::Path, call_timeout: Duration) -> Sandbox {
        let ctx = crate::core_cmd::scratch_context(dir).unwrap();
        let options = RuntimeOptions {
            call_timeout,
            cache_dir: None,
        };
        Sandbox::new(ctx, &options).unwrap()
    }

    /// The same component with a custom section appended: valid, different bytes.
    fn with_custom_section(core: &[u8]) -> Vec<u8> {
        let mut bytes = core.to_vec();
        bytes.extend_from_slice(&[0, 6, 5]);
        bytes.extend_from_slice(b"hello");
        bytes
    }

    fn reason(sandbox: &Sandbox, bytes: &[u8]) -> String {
        match sandbox.prepare(bytes) {
            Ok(core) => panic!("core {} was accepted", core.version),
            Err(rejection) => rejection.reason,
        }
    }

    #[test]
    fn every_check_names_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = sandbox(dir.path(), DEFAULT_CALL_TIMEOUT);
        let core = sandbox.prepare(DEFAULT_CORE).unwrap();
        assert!(core.version.starts_with("caravan-core/"));
        let variant = sandbox.prepare(&with_custom_section(DEFAULT_CORE)).unwrap();
        assert_eq!(variant.version, core.version);
        assert_ne!(variant.sha256, core.sha256);

        assert_eq!(
            reason(&sandbox, b"hello"),
            "not WebAssembly (no \\0asm header)"
        );
        assert!(reason(&sandbox, b"\0asm\x01\0\0\0").starts_with("a core wasm module"));
        assert!(
            reason(&sandbox, b"\0asm\x0d\0\x01\0")
                .starts_with("does not export caravan:client/handler")
        );
        // A component importing a function `x` that the host does not provide.
        let imports_x =
            b"\0asm\x0d\0\x01\0\x07\x05\x01\x40\x00\x01\x00\x0a\x06\x01\x00\x01x\x01\x00";
        assert!(
            reason(&sandbox, imports_x).starts_with("does not fit the host's caravan:client world")
        );
        let truncated = &DEFAULT_CORE[..DEFAULT_CORE.len() / 2];
        assert!(reason(&sandbox, truncated).starts_with("not a valid wasm component"));
        assert!(reason(&sandbox, START_TRAP_TEST_CORE).starts_with("failed to start"));
        assert_eq!(
            reason(&sandbox, FAULTY_TEST_CORE),
            "failed the self-check: GET /v1/caravan/self-check/unknown-route: \
             expected 404 with an empty body, got 200 \"ok\""
        );
    }

    #[test]
    fn the_call_deadline_stops_a_looping_core_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = sandbox(dir.path(), Duration::from_millis(200));
        let faulty = sandbox.load(FAULTY_TEST_CORE).unwrap();
        let request = |path: &str| types::Request {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let started = Instant::now();
        let Err(err) = sandbox.handle(&faulty, &request("/loop")) else {
            panic!("the looping core answered");
        };
        let took = started.elapsed();
        assert!(
            err.to_string()
                .contains("stopped at the call deadline (200ms)"),
            "{err:#}"
        );
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert!(sandbox.handle(&faulty, &request("/grow")).is_err());
        assert!(matches!(
            sandbox.handle(&faulty, &request("/ok")).unwrap().0,
            handler::Action::Respond(r) if r.status == 200
        ));
    }
}
