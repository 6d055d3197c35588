//! The native baseline (`caravan agent -core native`): the same core crate linked into the host
//! and called directly, so the cost of the wasm boundary can be measured on the same requests.
//!
//! It reaches the machine through the very capability implementations the component imports
//! (`capabilities.rs`, driven through a [`CoreState`]) and converts their WIT types to the core's,
//! which is the work the component's glue does on the other side of the boundary. What is left out
//! is exactly what the benchmark measures: instantiation, the canonical ABI and wasm execution.

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use caravan_core::acl::CompiledPolicy;
use caravan_core::host as core;
use caravan_core::http::Action;
use tokio::sync::Notify;
use wasmtime::StoreLimits;
use wasmtime::component::Resource;

use crate::capabilities::follow::Subscription;
use crate::capabilities::{CoreState, HostContext};
use crate::runtime::{Core, Decided, Decision, Pull};
use crate::wit::{
    acl, allocations, cluster, filesystem, follow, handler, log, node, relay, stats, types,
};

/// The `x-caravan-core` header of natively answered requests.
pub static VERSION: LazyLock<String> =
    LazyLock::new(|| format!("{} (native)", caravan_core::VERSION));

/// The natively linked core, answering over the same capabilities as the component.
pub struct NativeCore {
    ctx: Arc<HostContext>,
}

impl NativeCore {
    /// The core linked natively, reaching the machine through `ctx`.
    pub fn new(ctx: Arc<HostContext>) -> Self {
        Self { ctx }
    }
}

impl Core for NativeCore {
    fn decide(&self, request: &types::Request) -> anyhow::Result<Decided> {
        let host = NativeHost::new(CoreState::new(self.ctx.clone(), StoreLimits::default()));
        let decision = match caravan_core::handle(&host, &request.into()) {
            Action::Respond(r) => Decision::Respond(r.into()),
            Action::SendFile(s) => Decision::SendFile(s.into()),
            Action::Stream(s) => Decision::Stream {
                status: s.status,
                headers: s.headers.into_iter().map(Into::into).collect(),
                body: Box::new(NativeBody {
                    host,
                    stream: s.body,
                }),
            },
            Action::Forward(to) => Decision::Forward(to.into()),
            Action::Exec(e) => Decision::Exec(e.into()),
        };
        Ok(Decided {
            decision,
            version: self.version(),
        })
    }

    fn version(&self) -> String {
        VERSION.clone()
    }
}

/// Who may use `/v1/agent/core`, a route the host answers itself: decided by the natively
/// linked core's ACL rules (`caravan_core::acl::access::agent_core`), so they are the same rules
/// whichever core component is loaded, and the host keeps no ACL logic of its own. `Err`
/// holds the core's refusal.
pub fn authorize_agent_core(
    ctx: Arc<HostContext>,
    headers: Vec<(String, String)>,
    replace: bool,
) -> Result<(), types::Response> {
    let host = NativeHost::new(CoreState::new(ctx, StoreLimits::default()));
    let request = caravan_core::http::Request {
        method: String::new(),
        path: String::new(),
        query: String::new(),
        headers,
        body: Vec::new(),
    };
    caravan_core::acl::access::agent_core(&host, &request, replace)
        .map_err(|refusal| refusal.into_response().into())
}

/// Whether the caller may read `/v1/metrics`, which the host answers itself: the natively
/// linked core's rule (`caravan_core::acl::access::metrics`; Nomad requires no capability), like
/// [`authorize_agent_core`]. `Err` holds the core's refusal.
pub fn authorize_metrics(
    ctx: Arc<HostContext>,
    headers: Vec<(String, String)>,
) -> Result<(), types::Response> {
    let host = NativeHost::new(CoreState::new(ctx, StoreLimits::default()));
    let request = caravan_core::http::Request {
        method: "GET".into(),
        path: String::new(),
        query: String::new(),
        headers,
        body: Vec::new(),
    };
    caravan_core::acl::access::metrics(&host, &request)
        .map_err(|refusal| refusal.into_response().into())
}

/// A streamed body and the host state (its subscriptions) it holds until it ends.
pub struct NativeBody {
    host: NativeHost<CoreState>,
    stream: caravan_core::fs::stream::Stream<Resource<Subscription>, NativeListing>,
}

impl Pull for NativeBody {
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step> {
        Ok(self.stream.next(&self.host, now_ms).into())
    }

    fn waker(&self) -> Arc<Notify> {
        self.host.state().waker.clone()
    }
}

/// Everything the core imports, as the generated host traits: the daemon's [`CoreState`], or
/// the shared vectors' in-memory host (which is how the vectors prove this baseline answers
/// exactly as the component does).
pub trait Capabilities:
    log::Host
    + node::Host
    + allocations::Host
    + filesystem::Host
    + follow::Host
    + stats::Host
    + acl::Host
    + cluster::Host
    + relay::Host
{
}

impl<T> Capabilities for T where
    T: log::Host
        + node::Host
        + allocations::Host
        + filesystem::Host
        + follow::Host
        + stats::Host
        + acl::Host
        + cluster::Host
        + relay::Host
{
}

/// Capabilities seen through the core's `Host` trait, for one request (or one stream).
pub struct NativeHost<S>(RefCell<S>, Released);

/// Listings the core has dropped, to be returned to the capabilities at the next call: a
/// handle cannot reach the host when it drops, and a long stream lists many times.
type Released = Arc<Mutex<Vec<u32>>>;

/// A listing the natively linked core holds: a resource of the capabilities, released when
/// the core drops it, as the component's glue releases one through `drop`.
pub struct NativeListing {
    rep: u32,
    released: Released,
}

impl Drop for NativeListing {
    fn drop(&mut self) {
        self.released
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.rep);
    }
}

impl<S> NativeHost<S> {
    /// A host around one store's data.
    pub fn new(state: S) -> Self {
        Self(RefCell::new(state), Released::default())
    }

    /// The capabilities' state (for tests that change it between pulls, and read it after).
    pub fn state(&self) -> RefMut<'_, S> {
        self.0.borrow_mut()
    }
}

impl<S: Capabilities> NativeHost<S> {
    /// The state, with the listings the core dropped since the last call released.
    fn released_state(&self) -> RefMut<'_, S> {
        let mut state = self.0.borrow_mut();
        let released = std::mem::take(&mut *self.1.lock().unwrap_or_else(PoisonError::into_inner));
        for rep in released {
            // Only fails for a listing the capabilities no longer hold: nothing to release.
            let _ = filesystem::HostListing::drop(&mut *state, Resource::new_own(rep));
        }
        state
    }
}

impl<S: Capabilities> core::Host for NativeHost<S> {
    type Watch = Resource<Subscription>;
    type Listing = NativeListing;

    fn log(&self, level: core::LogLevel, message: &str) {
        log::Host::write(&mut *self.0.borrow_mut(), level.into(), message.to_string());
    }

    fn node_id(&self) -> String {
        node::Host::node_id(&mut *self.0.borrow_mut())
    }

    fn static_meta(&self) -> BTreeMap<String, String> {
        node::Host::static_meta(&mut *self.0.borrow_mut())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn dynamic_meta(&self) -> core::DynamicMeta {
        node::Host::dynamic_meta(&mut *self.0.borrow_mut())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn apply_meta(
        &self,
        changes: Vec<(String, core::MetaOp)>,
    ) -> Result<core::DynamicMeta, String> {
        let changes = changes.into_iter().map(Into::into).collect();
        node::Host::apply_meta(&mut *self.0.borrow_mut(), changes)
            .map(|entries| entries.into_iter().map(Into::into).collect())
    }

    fn allocation(&self, id: &str) -> Option<core::Allocation> {
        allocations::Host::get(&mut *self.0.borrow_mut(), id.to_string()).map(Into::into)
    }

    fn allocations(&self) -> Vec<core::Allocation> {
        allocations::Host::list(&mut *self.0.borrow_mut())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn collect(&self, id: &str) -> Result<(), core::CollectError> {
        allocations::Host::collect(&mut *self.0.borrow_mut(), id.to_string()).map_err(Into::into)
    }

    fn restart(&self, alloc_id: &str, task: Option<&str>) -> Result<(), core::LifecycleError> {
        allocations::Host::restart(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            task.map(str::to_string),
        )
        .map_err(Into::into)
    }

    fn signal(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), core::LifecycleError> {
        allocations::Host::signal(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            task.map(str::to_string),
            signal.to_string(),
        )
        .map_err(Into::into)
    }

    fn stat(&self, alloc_id: &str, path: &str) -> Result<core::FileInfo, core::FsError> {
        filesystem::Host::stat(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map(Into::into)
        .map_err(Into::into)
    }

    fn list(&self, alloc_id: &str, path: &str) -> Result<NativeListing, core::FsError> {
        let listing = filesystem::Host::list(
            &mut *self.released_state(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map_err(core::FsError::from)?;
        Ok(NativeListing {
            rep: listing.rep(),
            released: self.1.clone(),
        })
    }

    fn list_next(
        &self,
        listing: &NativeListing,
        max: u32,
    ) -> Result<Vec<core::FileInfo>, core::FsError> {
        filesystem::HostListing::next(
            &mut *self.released_state(),
            Resource::new_borrow(listing.rep),
            max,
        )
        .map(|infos| infos.into_iter().map(Into::into).collect())
        .map_err(Into::into)
    }

    fn read_at(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, core::FsError> {
        filesystem::Host::read_at(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
            offset,
            length,
        )
        .map_err(Into::into)
    }

    fn log_marks(
        &self,
        alloc_id: &str,
        path: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<core::LogMark>, core::FsError> {
        let marks = filesystem::Host::log_marks(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
            from,
            to,
        )
        .map_err(core::FsError::from)?;
        Ok(marks.into_iter().map(Into::into).collect())
    }

    fn now(&self) -> core::Timestamp {
        filesystem::Host::now(&mut *self.0.borrow_mut()).into()
    }

    fn watch(&self, alloc_id: &str, path: &str) -> Result<Resource<Subscription>, core::FsError> {
        follow::Host::watch(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map_err(Into::into)
    }

    fn host_stats(&self) -> Option<core::HostStats> {
        stats::Host::host(&mut *self.0.borrow_mut()).map(Into::into)
    }

    fn roles(&self) -> core::Roles {
        cluster::Host::roles(&mut *self.0.borrow_mut()).into()
    }

    fn node(&self, id: &str) -> Option<core::NodeInfo> {
        cluster::Host::node(&mut *self.0.borrow_mut(), id.to_string()).map(Into::into)
    }

    fn nodes(&self) -> Vec<core::NodeInfo> {
        cluster::Host::nodes(&mut *self.0.borrow_mut())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn find_allocation(&self, id: &str) -> Option<core::PlacedAllocation> {
        cluster::Host::find_allocation(&mut *self.0.borrow_mut(), id.to_string()).map(Into::into)
    }

    fn all_allocations(&self) -> Vec<core::PlacedAllocation> {
        cluster::Host::all_allocations(&mut *self.0.borrow_mut())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn register(&self, registration: core::Registration) -> Result<(), String> {
        cluster::Host::register(&mut *self.0.borrow_mut(), registration.into())
    }

    fn relay_open(&self, node_id: &str, target: &str, token: Option<&str>) -> Result<u32, String> {
        relay::Host::open(
            &mut *self.0.borrow_mut(),
            node_id.to_string(),
            target.to_string(),
            token.map(str::to_string),
        )
    }

    fn relay_take(&self, id: u32) -> core::Arrived {
        relay::Host::take(&mut *self.0.borrow_mut(), id).into()
    }

    fn relay_close(&self, id: u32) {
        relay::Host::close(&mut *self.0.borrow_mut(), id);
    }

    fn acl_enabled(&self) -> bool {
        acl::Host::enabled(&mut *self.0.borrow_mut())
    }

    fn resolve_token(&self, secret_id: &str) -> Result<core::Token, core::ResolveError> {
        acl::Host::resolve_token(&mut *self.0.borrow_mut(), secret_id.to_string())
            .map(Into::into)
            .map_err(Into::into)
    }

    fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        acl::Host::policies(&mut *self.0.borrow_mut(), names.to_vec())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn bootstrap(&self) -> Result<core::MintedToken, core::BootstrapError> {
        acl::Host::bootstrap(&mut *self.0.borrow_mut())
            .map(Into::into)
            .map_err(Into::into)
    }

    fn list_policies(&self) -> Vec<core::PolicyDocument> {
        let all = acl::Host::list_policies(&mut *self.0.borrow_mut());
        all.into_iter().map(Into::into).collect()
    }

    fn put_policy(&self, p: core::PolicyDocument, compiled: CompiledPolicy) -> Result<(), String> {
        let (p, compiled) = (p.into(), compiled.into());
        acl::Host::put_policy(&mut *self.0.borrow_mut(), p, compiled)
    }

    fn delete_policy(&self, name: &str) -> Result<bool, String> {
        acl::Host::delete_policy(&mut *self.0.borrow_mut(), name.to_string())
    }

    fn list_tokens(&self) -> Vec<core::Token> {
        let all = acl::Host::list_tokens(&mut *self.0.borrow_mut());
        all.into_iter().map(Into::into).collect()
    }

    fn create_token(&self, t: core::Token) -> Result<core::MintedToken, String> {
        acl::Host::create_token(&mut *self.0.borrow_mut(), t.into()).map(Into::into)
    }

    fn update_token(&self, t: core::Token) -> Result<Option<core::Token>, String> {
        acl::Host::update_token(&mut *self.0.borrow_mut(), t.into()).map(|t| t.map(Into::into))
    }

    fn delete_token(&self, accessor_id: &str) -> Result<bool, String> {
        acl::Host::delete_token(&mut *self.0.borrow_mut(), accessor_id.to_string())
    }

    fn allocation_usage(&self, alloc_id: &str) -> Vec<core::TaskUsage> {
        stats::Host::allocation(&mut *self.0.borrow_mut(), alloc_id.to_string())
            .into_iter()
            .map(Into::into)
            .collect()
    }
}
