//! The wasm side of the daemon: one engine, the active core as an immutable snapshot, and
//! a fresh store per request.
//!
//! A request loads the snapshot once and finishes on it, so replacing the snapshot (hot
//! swap) never disturbs requests in flight. A trap ends only its own request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::error::Context as _;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
};

use crate::bindings::{Core, CorePre, handler, types};
use crate::capabilities::{CoreState, HostContext};

/// The default core, built from `core/` by `build.rs`.
pub const DEFAULT_CORE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/core.wasm"));

/// How often the epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A call may run this long (host calls included) before it is interrupted.
const CALL_DEADLINE_TICKS: u64 = 3_000;
/// Linear memory one instance may grow to.
const MAX_MEMORY: usize = 64 << 20;
/// Instances alive at once (one per in-flight request).
const MAX_INSTANCES: u32 = 1_000;

/// A compiled, linked and checked core.
pub struct LoadedCore {
    pre: CorePre<CoreState>,
    pub version: String,
    pub sha256: String,
    pub loaded_at: SystemTime,
}

/// The engine, the linker and the active core.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CoreState>,
    ctx: Arc<HostContext>,
    active: ArcSwap<LoadedCore>,
    ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// Build the engine and load `core` (a component's bytes) as the active core.
    pub fn new(ctx: Arc<HostContext>, core: &[u8]) -> Result<Self> {
        let engine = Engine::new(&engine_config()).context("failed to create the wasm engine")?;
        let mut linker = Linker::new(&engine);
        Core::add_to_linker::<CoreState, HasSelf<CoreState>>(&mut linker, |state| state)
            .context("failed to link the host interfaces")?;
        let ticker = Arc::new(AtomicBool::new(true));
        start_epoch_ticker(engine.clone(), ticker.clone());
        let first = load(&engine, &linker, &ctx, core)?;
        Ok(Self {
            engine,
            linker,
            ctx,
            active: ArcSwap::from_pointee(first),
            ticker,
        })
    }

    /// The core serving new requests.
    pub fn active(&self) -> Arc<LoadedCore> {
        self.active.load_full()
    }

    /// Compile, link and check a candidate, then make it the active core. On any error the
    /// old core keeps serving.
    pub fn swap(&self, bytes: &[u8]) -> Result<Arc<LoadedCore>> {
        let candidate = Arc::new(load(&self.engine, &self.linker, &self.ctx, bytes)?);
        self.active.store(candidate.clone());
        Ok(candidate)
    }

    /// Answer one request on `core` in a fresh store. Blocking: call it off the async
    /// executor. An error is a trap or a host fault, never a user error. The returned call
    /// keeps the instance for a streamed body; otherwise it is simply dropped.
    pub fn handle(
        &self,
        core: &LoadedCore,
        request: &types::Request,
    ) -> Result<(handler::Action, CoreCall)> {
        let mut store = new_store(&self.engine, &self.ctx);
        let instance = core
            .pre
            .instantiate(&mut store)
            .context("failed to instantiate the core")?;
        let action = instance
            .caravan_client_handler()
            .call_handle(&mut store, request)?;
        Ok((action, CoreCall { store, instance }))
    }
}

impl Runtime {
    /// Compile an ACL policy with the active core (policy semantics live in the core).
    pub fn compile_policy(
        &self,
        name: &str,
        text: &str,
    ) -> Result<crate::bindings::policy::CompiledPolicy, String> {
        let core = self.active();
        let mut store = new_store(&self.engine, &self.ctx);
        let instance = core
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("the core failed to start: {e}"))?;
        instance
            .caravan_client_handler()
            .call_compile_policy(&mut store, name, text)
            .map_err(|e| format!("the core failed compiling the policy: {e}"))?
    }
}

/// One request's instance of the core, kept while a streamed body is pulled from it.
pub struct CoreCall {
    store: Store<CoreState>,
    instance: Core,
}

impl CoreCall {
    /// Pull the next part of a streamed body. Blocking, like [`Runtime::handle`]; each pull
    /// gets a fresh deadline, so a stream may last as long as its client stays.
    pub fn next(&mut self, body: ResourceAny, now_ms: u64) -> Result<handler::Step> {
        self.store.set_epoch_deadline(CALL_DEADLINE_TICKS);
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

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

fn engine_config() -> Config {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES)
        .max_memory_size(MAX_MEMORY);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(512 << 10)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
}

fn new_store(engine: &Engine, ctx: &Arc<HostContext>) -> Store<CoreState> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(MAX_MEMORY)
        .instances(4)
        .build();
    let mut store = Store::new(engine, CoreState::new(ctx.clone(), limits));
    store.limiter(|state| &mut state.limits);
    store.set_epoch_deadline(CALL_DEADLINE_TICKS);
    store
}

/// The epoch only moves while this thread runs; it stops when the runtime is dropped.
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

fn load(
    engine: &Engine,
    linker: &Linker<CoreState>,
    ctx: &Arc<HostContext>,
    bytes: &[u8],
) -> Result<LoadedCore> {
    let component = Component::new(engine, bytes).context("not a valid wasm component")?;
    let pre = linker
        .instantiate_pre(&component)
        .context("the component does not match the caravan:client world")?;
    let pre = CorePre::new(pre).context("the component does not export caravan:client/handler")?;
    let mut store = new_store(engine, ctx);
    let instance = pre
        .instantiate(&mut store)
        .context("the component failed to start")?;
    let version = instance
        .caravan_client_handler()
        .call_version(&mut store)
        .context("the component's version call failed")?;
    Ok(LoadedCore {
        pre,
        version,
        sha256: hex(&Sha256::digest(bytes)),
        loaded_at: SystemTime::now(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Runtime {
    /// The host context the capabilities share.
    pub fn context(&self) -> Arc<HostContext> {
        self.ctx.clone()
    }
}

/// The faulty test core, built beside the real one; only the isolation tests load it
/// (through `caravan agent -core`), never the daemon by itself.
pub const FAULTY_TEST_CORE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/faulty-core.wasm"));

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
}
