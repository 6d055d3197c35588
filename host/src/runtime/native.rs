//! The native baseline (`caravan agent -core native`): the same core crate linked into the host
//! and called directly, so the cost of the wasm boundary can be measured on the same requests.
//!
//! It reaches the machine through the very capability implementations the component imports
//! (`capabilities.rs`, driven through a [`CoreState`]) and converts their WIT types to the core's,
//! which is the work the component's glue does on the other side of the boundary. What is left out
//! is exactly what the benchmark measures: instantiation, the canonical ABI and wasm execution.

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use caravan_core::acl::CompiledPolicy;
use caravan_core::host as core;
use caravan_core::http::Action;
use tokio::sync::Notify;
use wasmtime::StoreLimits;
use wasmtime::component::Resource;

use super::convert::*;
use crate::capabilities::bindings::{
    acl, allocations, cluster, filesystem, follow, handler, log, node, stats, types,
};
use crate::capabilities::follow::Subscription;
use crate::capabilities::{CoreState, HostContext};
use crate::runtime::{Core, Decided, Decision, Pull};

/// The `x-caravan-core` header of natively answered requests.
pub static VERSION: LazyLock<String> =
    LazyLock::new(|| format!("{} (native)", caravan_core::VERSION));

/// The natively linked core, answering over the same capabilities as the component.
pub struct NativeCore {
    ctx: Arc<HostContext>,
}

impl NativeCore {
    pub fn new(ctx: Arc<HostContext>) -> Self {
        Self { ctx }
    }
}

impl Core for NativeCore {
    fn decide(&self, request: &types::Request) -> anyhow::Result<Decided> {
        let host = NativeHost::new(CoreState::new(self.ctx.clone(), StoreLimits::default()));
        let decision = match caravan_core::handle(&host, &core_request(request)) {
            Action::Respond(r) => Decision::Respond(response(r)),
            Action::SendFile(s) => Decision::SendFile(send_file(s)),
            Action::Stream(s) => Decision::Stream {
                status: s.status,
                headers: pairs(s.headers),
                body: Box::new(NativeBody {
                    host,
                    stream: s.body,
                }),
            },
            Action::Forward(to) => Decision::Forward(forward_to(to)),
            Action::Exec(e) => Decision::Exec(exec_request(e)),
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
        .map_err(|refusal| response(refusal.into_response()))
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
        .map_err(|refusal| response(refusal.into_response()))
}

/// A streamed body and the host state (its subscriptions) it holds until it ends.
pub struct NativeBody {
    host: NativeHost<CoreState>,
    stream: caravan_core::fs::stream::Stream<Resource<Subscription>>,
}

impl Pull for NativeBody {
    fn next(&mut self, now_ms: u64) -> anyhow::Result<handler::Step> {
        Ok(step(self.stream.next(&self.host, now_ms)))
    }

    fn waker(&self) -> Arc<Notify> {
        self.host.state().waker.clone()
    }
}

/// A request as the core's `handle` takes it.
pub fn core_request(request: &types::Request) -> caravan_core::http::Request {
    caravan_core::http::Request {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers: request
            .headers
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect(),
        body: request.body.clone(),
    }
}

/// The core's response in the server's terms.
pub fn response(r: caravan_core::http::Response) -> types::Response {
    types::Response {
        status: r.status,
        headers: pairs(r.headers),
        body: r.body,
    }
}

/// The core's send-file in the server's terms.
pub fn send_file(s: caravan_core::http::SendFile) -> handler::SendFile {
    handler::SendFile {
        alloc_id: s.alloc_id,
        path: s.path,
        offset: s.offset,
        limit: s.limit,
        headers: pairs(s.headers),
        vanished: response(s.vanished),
    }
}

/// The core's forward in the server's terms.
pub fn forward_to(f: caravan_core::http::ForwardTo) -> handler::ForwardTo {
    handler::ForwardTo {
        node_id: f.node_id,
        unreachable: response(f.unreachable),
    }
}

/// The core's exec decision in the server's terms.
pub fn exec_request(e: caravan_core::http::ExecRequest) -> handler::ExecRequest {
    handler::ExecRequest {
        alloc_id: e.alloc_id,
        task: e.task,
        command: e.command,
        tty: e.tty,
        not_running: response(e.not_running),
    }
}

/// A pull's result in the server's terms.
pub fn step(step: caravan_core::fs::stream::Step) -> handler::Step {
    match step {
        caravan_core::fs::stream::Step::Data(data) => handler::Step::Data(data),
        caravan_core::fs::stream::Step::Wait(ms) => handler::Step::Wait(ms),
        caravan_core::fs::stream::Step::End => handler::Step::End,
    }
}

fn pairs(list: Vec<(String, String)>) -> Vec<types::Pair> {
    list.into_iter()
        .map(|(name, value)| types::Pair { name, value })
        .collect()
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
{
}

/// Capabilities seen through the core's `Host` trait, for one request (or one stream).
pub struct NativeHost<S>(RefCell<S>);

impl<S> NativeHost<S> {
    pub fn new(state: S) -> Self {
        Self(RefCell::new(state))
    }

    /// The capabilities' state (for tests that change it between pulls, and read it after).
    pub fn state(&self) -> RefMut<'_, S> {
        self.0.borrow_mut()
    }
}

impl<S: Capabilities> core::Host for NativeHost<S> {
    type Watch = Resource<Subscription>;

    fn log(&self, level: core::LogLevel, message: &str) {
        let level = match level {
            core::LogLevel::Debug => log::Level::Debug,
            core::LogLevel::Info => log::Level::Info,
            core::LogLevel::Warn => log::Level::Warn,
            core::LogLevel::Error => log::Level::Error,
        };
        log::Host::write(&mut *self.0.borrow_mut(), level, message.to_string());
    }

    fn node_id(&self) -> String {
        node::Host::node_id(&mut *self.0.borrow_mut())
    }

    fn static_meta(&self) -> BTreeMap<String, String> {
        node::Host::static_meta(&mut *self.0.borrow_mut())
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect()
    }

    fn dynamic_meta(&self) -> core::DynamicMeta {
        meta(node::Host::dynamic_meta(&mut *self.0.borrow_mut()))
    }

    fn apply_meta(
        &self,
        changes: Vec<(String, core::MetaOp)>,
    ) -> Result<core::DynamicMeta, String> {
        let changes = changes
            .into_iter()
            .map(|(key, op)| node::MetaChange {
                key,
                op: match op {
                    core::MetaOp::Set(value) => node::MetaOp::Set(value),
                    core::MetaOp::Tombstone => node::MetaOp::Tombstone,
                    core::MetaOp::Remove => node::MetaOp::Remove,
                },
            })
            .collect();
        node::Host::apply_meta(&mut *self.0.borrow_mut(), changes).map(meta)
    }

    fn allocation(&self, id: &str) -> Option<core::Allocation> {
        allocations::Host::get(&mut *self.0.borrow_mut(), id.to_string()).map(allocation)
    }

    fn allocations(&self) -> Vec<core::Allocation> {
        allocations::Host::list(&mut *self.0.borrow_mut())
            .into_iter()
            .map(allocation)
            .collect()
    }

    fn collect(&self, id: &str) -> Result<(), core::CollectError> {
        allocations::Host::collect(&mut *self.0.borrow_mut(), id.to_string()).map_err(|e| match e {
            allocations::CollectError::NotFound => core::CollectError::NotFound,
            allocations::CollectError::NotTerminal => core::CollectError::NotTerminal,
            allocations::CollectError::Io(message) => core::CollectError::Io(message),
        })
    }

    fn restart(&self, alloc_id: &str, task: Option<&str>) -> Result<(), core::LifecycleError> {
        allocations::Host::restart(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            task.map(str::to_string),
        )
        .map_err(lifecycle_error)
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
        .map_err(lifecycle_error)
    }

    fn stat(&self, alloc_id: &str, path: &str) -> Result<core::FileInfo, core::FsError> {
        filesystem::Host::stat(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map(file_info)
        .map_err(fs_error)
    }

    fn list(&self, alloc_id: &str, path: &str) -> Result<Vec<core::FileInfo>, core::FsError> {
        filesystem::Host::list(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map(|infos| infos.into_iter().map(file_info).collect())
        .map_err(fs_error)
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
        .map_err(fs_error)
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
        .map_err(fs_error)?;
        Ok(marks
            .into_iter()
            .map(|m| core::LogMark {
                offset: m.offset,
                time: time(m.time),
            })
            .collect())
    }

    fn now(&self) -> core::Timestamp {
        time(filesystem::Host::now(&mut *self.0.borrow_mut()))
    }

    fn watch(&self, alloc_id: &str, path: &str) -> Result<Resource<Subscription>, core::FsError> {
        follow::Host::watch(
            &mut *self.0.borrow_mut(),
            alloc_id.to_string(),
            path.to_string(),
        )
        .map_err(fs_error)
    }

    fn host_stats(&self) -> Option<core::HostStats> {
        let s = stats::Host::host(&mut *self.0.borrow_mut())?;
        Some(core::HostStats {
            memory: core::MemoryStats {
                total: s.memory.total,
                available: s.memory.available,
                used: s.memory.used,
                free: s.memory.free,
            },
            cpu: s
                .cpu
                .into_iter()
                .map(|c| core::CpuStats {
                    name: c.name,
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: s.disks.into_iter().map(disk).collect(),
            alloc_dir: disk(s.alloc_dir),
            uptime: s.uptime,
            cpu_ticks_consumed: s.cpu_ticks_consumed,
            taken_at: time(s.taken_at),
        })
    }

    fn roles(&self) -> core::Roles {
        let roles = cluster::Host::roles(&mut *self.0.borrow_mut());
        core::Roles {
            server: roles.server,
            client: roles.client,
            ui: roles.ui,
        }
    }

    fn node(&self, id: &str) -> Option<core::NodeInfo> {
        cluster::Host::node(&mut *self.0.borrow_mut(), id.to_string()).map(node_info)
    }

    fn nodes(&self) -> Vec<core::NodeInfo> {
        cluster::Host::nodes(&mut *self.0.borrow_mut())
            .into_iter()
            .map(node_info)
            .collect()
    }

    fn find_allocation(&self, id: &str) -> Option<core::PlacedAllocation> {
        cluster::Host::find_allocation(&mut *self.0.borrow_mut(), id.to_string()).map(placed)
    }

    fn all_allocations(&self) -> Vec<core::PlacedAllocation> {
        cluster::Host::all_allocations(&mut *self.0.borrow_mut())
            .into_iter()
            .map(placed)
            .collect()
    }

    fn register(&self, registration: core::Registration) -> Result<(), String> {
        cluster::Host::register(&mut *self.0.borrow_mut(), registration_out(registration))
    }

    fn acl_enabled(&self) -> bool {
        acl::Host::enabled(&mut *self.0.borrow_mut())
    }

    fn resolve_token(&self, secret_id: &str) -> Result<core::Token, core::ResolveError> {
        match acl::Host::resolve_token(&mut *self.0.borrow_mut(), secret_id.to_string()) {
            Ok(t) => Ok(token(t)),
            Err(acl::ResolveError::NotFound) => Err(core::ResolveError::NotFound),
            Err(acl::ResolveError::Expired) => Err(core::ResolveError::Expired),
        }
    }

    fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        acl::Host::policies(&mut *self.0.borrow_mut(), names.to_vec())
            .into_iter()
            .map(policy)
            .collect()
    }

    fn bootstrap(&self) -> Result<core::MintedToken, core::BootstrapError> {
        match acl::Host::bootstrap(&mut *self.0.borrow_mut()) {
            Ok(minted) => Ok(core::MintedToken {
                token: token(minted.token),
                secret_id: minted.secret_id,
            }),
            Err(acl::BootstrapError::AlreadyDone) => Err(core::BootstrapError::AlreadyDone),
            Err(acl::BootstrapError::Failed(why)) => Err(core::BootstrapError::Failed(why)),
        }
    }

    fn allocation_usage(&self, alloc_id: &str) -> Vec<core::TaskUsage> {
        stats::Host::allocation(&mut *self.0.borrow_mut(), alloc_id.to_string())
            .into_iter()
            .map(|t| core::TaskUsage {
                task: t.task,
                processes: t
                    .processes
                    .into_iter()
                    .map(|p| core::ProcessUsage {
                        pid: p.pid,
                        rss: p.rss,
                        swap: p.swap,
                        cpu_percent: p.cpu_percent,
                        user_mode: p.user_mode,
                        system_mode: p.system_mode,
                        total_ticks: p.total_ticks,
                    })
                    .collect(),
                taken_at: time(t.taken_at),
            })
            .collect()
    }
}

fn lifecycle_error(e: allocations::LifecycleError) -> core::LifecycleError {
    use allocations::LifecycleError as E;
    match e {
        E::NotFound => core::LifecycleError::NotFound,
        E::UnknownTask => core::LifecycleError::UnknownTask,
        E::NotRunning => core::LifecycleError::NotRunning,
        E::Terminal => core::LifecycleError::Terminal,
        E::UnknownSignal => core::LifecycleError::UnknownSignal,
        E::Io(message) => core::LifecycleError::Io(message),
    }
}
