//! The engine and a fresh store per call: compiling, linking and starting cores, the
//! per-call deadline, and the instance a streamed body is pulled from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::error::Context as _;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy, Store, StoreLimitsBuilder, Trap,
};

use super::cache::CoreCache;
use super::checks::{self, check_header};
use super::{EPOCH_TICK, LoadedCore, Rejection, RuntimeOptions};
use crate::capabilities::{CoreState, HostContext};
use crate::util::hex;
use crate::wit::policy::CompiledPolicy;
use crate::wit::{Core, CorePre, handler, types};

/// Linear memory one instance may grow to.
const MAX_MEMORY: usize = 64 << 20;
/// Instances of the core alive at once: one per request in flight and per open stream, so
/// above the default `-max-streams` (1,024) with room for ordinary requests.
const MAX_INSTANCES: u32 = 1_536;
/// A component instance of our core is several core-wasm instances (the module and
/// wit-component's adapter shims), each counted by the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 4;

/// Bytes of each pool slot's linear memory kept resident between instances (reset by
/// `memset` of the dirty pages instead of `madvise`): the core's data, stack and its heap
/// arena (`core/src/wasm/heap.rs`, 1 MiB), so a plain request never grows memory.
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Slots whose remaining pages are decommitted in one batch.
const DECOMMIT_BATCH: usize = 16;

/// The engine and everything needed to check and run a core, without an active core:
/// `caravan core check` uses it alone.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<CoreState>,
    pub(super) ctx: Arc<HostContext>,
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
        crate::capabilities::add_to_linker(&mut linker)?;
        let cache =
            options
                .cache_dir
                .as_ref()
                .and_then(|dir| match CoreCache::open(dir, &engine) {
                    Ok(cache) => Some(cache),
                    Err(err) => {
                        tracing::warn!("core cache disabled: {err:#}");
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

    /// The self-check (see [`checks::self_check`]) on `core`, in a throwaway context of its
    /// own (an empty data dir, ACLs off, a client agent): what is checked is the core's
    /// behaviour, so the answers must not depend on this agent's ACLs, roles or state.
    pub(super) fn self_check(&self, core: &LoadedCore) -> Result<(), String> {
        let unprepared = |err: anyhow::Error| format!("could not prepare the self-check: {err:#}");
        let scratch = tempfile::Builder::new()
            .prefix("caravan-self-check-")
            .tempdir()
            .map_err(|err| unprepared(err.into()))?;
        let ctx = HostContext::scratch(scratch.path()).map_err(unprepared)?;
        checks::self_check(|request| {
            self.handle_in(ctx.clone(), core, request)
                .map(|(action, _)| action)
        })
    }

    /// Compile (or fetch from the cache), link and start a core.
    pub(super) fn load(&self, bytes: &[u8]) -> Result<LoadedCore, Rejection> {
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
    pub(super) fn remember(&self, core: &LoadedCore) {
        let Some(cache) = &self.cache else { return };
        if core.compiled.is_none() {
            return;
        }
        if let Err(err) = cache.put(&core.sha256, core.pre.instance_pre().component()) {
            tracing::warn!("core cache: failed to store core {}: {err:#}", core.sha256);
        }
    }

    /// Answer one request on `core` in a fresh store. Blocking: call it off the async
    /// executor. An error is a trap or a host fault, never a user error. The returned call
    /// keeps the instance for a streamed body; otherwise it is simply dropped.
    pub fn handle(
        &self,
        core: &LoadedCore,
        request: &types::Request,
    ) -> Result<(handler::Action, CoreCall)> {
        self.handle_in(self.ctx.clone(), core, request)
    }

    /// [`Self::handle`] with the capabilities of `ctx` rather than the agent's.
    fn handle_in(
        &self,
        ctx: Arc<HostContext>,
        core: &LoadedCore,
        request: &types::Request,
    ) -> Result<(handler::Action, CoreCall)> {
        let mut store = self.new_store_in(ctx);
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
    pub(super) fn compile_policy(
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
    pub(super) fn explain(&self, err: wasmtime::Error) -> String {
        let message = format!("{err:#}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            format!(
                "stopped at the call deadline ({}): {message}",
                crate::util::duration::format(self.call_timeout)
            )
        } else {
            message
        }
    }

    pub(super) fn new_store(&self) -> Store<CoreState> {
        self.new_store_in(self.ctx.clone())
    }

    fn new_store_in(&self, ctx: Arc<HostContext>) -> Store<CoreState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(MAX_MEMORY)
            .instances(4)
            .build();
        let mut store = Store::new(&self.engine, CoreState::new(ctx, limits));
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

pub(super) fn engine_config() -> Config {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(MAX_MEMORY)
        // Resetting a slot for the next request: by default every page of the used memory
        // and tables is `madvise`d away, so the next instance faults each page back in (with
        // TLB shootdowns). Instead, keep the first MEMORY_KEEP_RESIDENT bytes resident and
        // reset them with `memset`; with PAGEMAP_SCAN (Linux 6.7+; wasmtime falls back
        // without it) only the pages the request actually dirtied are reset. Isolation is
        // the same: the slot comes back exactly as the module's initial image either way.
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto)
        // What still has to be decommitted (memory beyond the resident part) is done in
        // batches, one `madvise` round for several slots.
        .decommit_batch_size(DECOMMIT_BATCH);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(512 << 10)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    // `perf` names the core's functions when the agent writes /tmp/perf-PID.map
    // (docs/performance.md, "Profiling").
    if std::env::var_os("CARAVAN_PERF_MAP").is_some() {
        config.profiler(ProfilingStrategy::PerfMap);
    }
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
