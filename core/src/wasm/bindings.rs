//! The wasm glue: the component's imports as a [`Host`], and its one export.
//!
//! Only conversions live here; every decision is made in the plain modules.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{self as core_host, Host};
use crate::http;

wit_bindgen::generate!({
    world: "core",
    path: "../wit",
});

use caravan::client::types::{Pair, Timestamp};
use caravan::client::{acl, allocations, cluster, filesystem, follow, log, node, policy, stats};
use exports::caravan::client::handler;

struct Component;

export!(Component);

impl handler::Guest for Component {
    type BodyStream = BodyStream;

    fn handle(req: handler::Request) -> handler::Action {
        install_panic_hook();
        let req = http::Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers.into_iter().map(|p| (p.name, p.value)).collect(),
            body: req.body,
        };
        match crate::handle(&Imports, &req) {
            http::Action::Respond(r) => handler::Action::Respond(response(r)),
            http::Action::SendFile(s) => handler::Action::SendFile(handler::SendFile {
                alloc_id: s.alloc_id,
                path: s.path,
                offset: s.offset,
                limit: s.limit,
                headers: pairs(s.headers),
                vanished: response(s.vanished),
            }),
            http::Action::Stream(s) => handler::Action::Stream(handler::StreamStart {
                status: s.status,
                headers: pairs(s.headers),
                body: handler::BodyStream::new(BodyStream(RefCell::new(s.body))),
            }),
            http::Action::Forward(to) => handler::Action::Forward(handler::ForwardTo {
                node_id: to.node_id,
                unreachable: response(to.unreachable),
            }),
            http::Action::Exec(e) => handler::Action::Exec(handler::ExecRequest {
                alloc_id: e.alloc_id,
                task: e.task,
                command: e.command,
                tty: e.tty,
                not_running: response(e.not_running),
            }),
        }
    }

    fn version() -> String {
        crate::VERSION.to_string()
    }

    fn compile_policy(name: String, text: String) -> Result<policy::CompiledPolicy, String> {
        install_panic_hook();
        let compiled = crate::acl::compile(&name, &text)?;
        Ok(policy::CompiledPolicy {
            name: compiled.name,
            namespaces: compiled
                .namespaces
                .into_iter()
                .map(|r| policy::NamespaceRule {
                    pattern: r.pattern,
                    capabilities: r.capabilities,
                })
                .collect(),
            node: compiled.node.map(disposition_out),
            agent: compiled.agent.map(disposition_out),
        })
    }
}

fn disposition_out(d: core_host::Disposition) -> policy::Disposition {
    match d {
        core_host::Disposition::Deny => policy::Disposition::Deny,
        core_host::Disposition::Read => policy::Disposition::Read,
        core_host::Disposition::Write => policy::Disposition::Write,
    }
}

fn disposition_in(d: policy::Disposition) -> core_host::Disposition {
    match d {
        policy::Disposition::Deny => core_host::Disposition::Deny,
        policy::Disposition::Read => core_host::Disposition::Read,
        policy::Disposition::Write => core_host::Disposition::Write,
    }
}

/// A streamed body: the core's state machine behind the exported resource.
struct BodyStream(RefCell<crate::fs::stream::Stream<follow::Subscription>>);

impl handler::GuestBodyStream for BodyStream {
    fn next(&self, now_ms: u64) -> handler::Step {
        match self.0.borrow_mut().next(&Imports, now_ms) {
            crate::fs::stream::Step::Data(data) => handler::Step::Data(data),
            crate::fs::stream::Step::Wait(ms) => handler::Step::Wait(ms),
            crate::fs::stream::Step::End => handler::Step::End,
        }
    }
}

/// A panic aborts (a trap) and its message would be lost: send it to the host's log first.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::write(log::Level::Error, &format!("core panicked: {info}"));
        }));
    });
}

fn response(r: http::Response) -> handler::Response {
    handler::Response {
        status: r.status,
        headers: pairs(r.headers),
        body: r.body,
    }
}

fn pairs(list: Vec<(String, String)>) -> Vec<Pair> {
    list.into_iter()
        .map(|(name, value)| Pair { name, value })
        .collect()
}

fn time(t: Timestamp) -> core_host::Timestamp {
    core_host::Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

/// The component's imports, seen through the core's [`Host`] trait.
struct Imports;

impl Host for Imports {
    type Watch = follow::Subscription;

    fn log(&self, level: core_host::LogLevel, message: &str) {
        let level = match level {
            core_host::LogLevel::Debug => log::Level::Debug,
            core_host::LogLevel::Info => log::Level::Info,
            core_host::LogLevel::Warn => log::Level::Warn,
            core_host::LogLevel::Error => log::Level::Error,
        };
        log::write(level, message);
    }

    fn node_id(&self) -> String {
        node::node_id()
    }

    fn static_meta(&self) -> BTreeMap<String, String> {
        node::static_meta()
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect()
    }

    fn dynamic_meta(&self) -> core_host::DynamicMeta {
        entries(node::dynamic_meta())
    }

    fn apply_meta(
        &self,
        changes: Vec<(String, core_host::MetaOp)>,
    ) -> Result<core_host::DynamicMeta, String> {
        let changes: Vec<node::MetaChange> = changes
            .into_iter()
            .map(|(key, op)| node::MetaChange {
                key,
                op: match op {
                    core_host::MetaOp::Set(v) => node::MetaOp::Set(v),
                    core_host::MetaOp::Tombstone => node::MetaOp::Tombstone,
                    core_host::MetaOp::Remove => node::MetaOp::Remove,
                },
            })
            .collect();
        node::apply_meta(&changes).map(entries)
    }

    fn allocation(&self, id: &str) -> Option<core_host::Allocation> {
        allocations::get(id).map(allocation)
    }

    fn allocations(&self) -> Vec<core_host::Allocation> {
        allocations::list().into_iter().map(allocation).collect()
    }

    fn collect(&self, id: &str) -> Result<(), core_host::CollectError> {
        allocations::collect(id).map_err(|e| match e {
            allocations::CollectError::NotFound => core_host::CollectError::NotFound,
            allocations::CollectError::NotTerminal => core_host::CollectError::NotTerminal,
            allocations::CollectError::Io(message) => core_host::CollectError::Io(message),
        })
    }

    fn restart(&self, alloc_id: &str, task: Option<&str>) -> Result<(), core_host::LifecycleError> {
        allocations::restart(alloc_id, task).map_err(lifecycle_error)
    }

    fn signal(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), core_host::LifecycleError> {
        allocations::signal(alloc_id, task, signal).map_err(lifecycle_error)
    }

    fn stat(&self, alloc_id: &str, path: &str) -> Result<core_host::FileInfo, core_host::FsError> {
        filesystem::stat(alloc_id, path)
            .map(file_info)
            .map_err(fs_error)
    }

    fn list(
        &self,
        alloc_id: &str,
        path: &str,
    ) -> Result<Vec<core_host::FileInfo>, core_host::FsError> {
        filesystem::list(alloc_id, path)
            .map(|infos| infos.into_iter().map(file_info).collect())
            .map_err(fs_error)
    }

    fn read_at(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, core_host::FsError> {
        filesystem::read_at(alloc_id, path, offset, length).map_err(fs_error)
    }

    fn log_marks(
        &self,
        alloc_id: &str,
        path: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<core_host::LogMark>, core_host::FsError> {
        let marks = filesystem::log_marks(alloc_id, path, from, to).map_err(fs_error)?;
        Ok(marks
            .into_iter()
            .map(|m| core_host::LogMark {
                offset: m.offset,
                time: time(m.time),
            })
            .collect())
    }

    fn now(&self) -> core_host::Timestamp {
        time(filesystem::now())
    }

    fn watch(
        &self,
        alloc_id: &str,
        path: &str,
    ) -> Result<follow::Subscription, core_host::FsError> {
        follow::watch(alloc_id, path).map_err(fs_error)
    }

    fn roles(&self) -> core_host::Roles {
        let roles = cluster::roles();
        core_host::Roles {
            server: roles.server,
            client: roles.client,
            ui: roles.ui,
        }
    }

    fn node(&self, id: &str) -> Option<core_host::NodeInfo> {
        cluster::node(id).map(node_info)
    }

    fn nodes(&self) -> Vec<core_host::NodeInfo> {
        cluster::nodes().into_iter().map(node_info).collect()
    }

    fn find_allocation(&self, id: &str) -> Option<core_host::PlacedAllocation> {
        cluster::find_allocation(id).map(placed)
    }

    fn all_allocations(&self) -> Vec<core_host::PlacedAllocation> {
        cluster::all_allocations().into_iter().map(placed).collect()
    }

    fn register(&self, registration: core_host::Registration) -> Result<(), String> {
        let node = registration.node;
        cluster::register(&cluster::Registration {
            node: cluster::NodeRegistration {
                id: node.id,
                name: node.name,
                datacenter: node.datacenter,
                http_addr: node.http_addr,
                static_meta: node
                    .static_meta
                    .into_iter()
                    .map(|(name, value)| Pair { name, value })
                    .collect(),
                dynamic_meta: node
                    .dynamic_meta
                    .into_iter()
                    .map(|(key, value)| node::MetaEntry { key, value })
                    .collect(),
            },
            allocations: registration
                .allocations
                .into_iter()
                .map(allocation_out)
                .collect(),
            certificate_sha256: registration.certificate_sha256,
        })
    }

    fn acl_enabled(&self) -> bool {
        acl::enabled()
    }

    fn resolve_token(&self, secret_id: &str) -> Result<core_host::Token, core_host::ResolveError> {
        match acl::resolve_token(secret_id) {
            Ok(t) => Ok(token(t)),
            Err(acl::ResolveError::NotFound) => Err(core_host::ResolveError::NotFound),
            Err(acl::ResolveError::Expired) => Err(core_host::ResolveError::Expired),
        }
    }

    fn bootstrap(&self) -> Result<core_host::MintedToken, core_host::BootstrapError> {
        match acl::bootstrap() {
            Ok(minted) => Ok(core_host::MintedToken {
                token: token(minted.token),
                secret_id: minted.secret_id,
            }),
            Err(acl::BootstrapError::AlreadyDone) => Err(core_host::BootstrapError::AlreadyDone),
            Err(acl::BootstrapError::Failed(why)) => Err(core_host::BootstrapError::Failed(why)),
        }
    }

    fn policies(&self, names: &[String]) -> Vec<core_host::CompiledPolicy> {
        acl::policies(names)
            .into_iter()
            .map(|p| core_host::CompiledPolicy {
                name: p.name,
                namespaces: p
                    .namespaces
                    .into_iter()
                    .map(|r| core_host::NamespaceRule {
                        pattern: r.pattern,
                        capabilities: r.capabilities,
                    })
                    .collect(),
                node: p.node.map(disposition_in),
                agent: p.agent.map(disposition_in),
            })
            .collect()
    }

    fn host_stats(&self) -> Option<core_host::HostStats> {
        stats::host().map(|s| core_host::HostStats {
            memory: core_host::MemoryStats {
                total: s.memory.total,
                available: s.memory.available,
                used: s.memory.used,
                free: s.memory.free,
            },
            cpu: s
                .cpu
                .into_iter()
                .map(|c| core_host::CpuStats {
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

    fn allocation_usage(&self, alloc_id: &str) -> Vec<core_host::TaskUsage> {
        stats::allocation(alloc_id)
            .into_iter()
            .map(|t| core_host::TaskUsage {
                task: t.task,
                processes: t
                    .processes
                    .into_iter()
                    .map(|p| core_host::ProcessUsage {
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

fn token(t: acl::Token) -> core_host::Token {
    core_host::Token {
        accessor_id: t.accessor_id,
        name: t.name,
        management: t.token_type == acl::TokenType::Management,
        policies: t.policies,
        create_time: time(t.create_time),
        expiration_time: t.expiration_time.map(time),
    }
}

fn time_out(t: core_host::Timestamp) -> Timestamp {
    Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

/// An allocation a client registered, in the contract's terms.
fn allocation_out(a: core_host::Allocation) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    use core_host::{ClientStatus, TaskStatus};
    allocations::Allocation {
        id: a.id,
        namespace: a.namespace,
        job_id: a.job_id,
        task_group: a.task_group,
        client_status: match a.client_status {
            ClientStatus::Pending => C::Pending,
            ClientStatus::Running => C::Running,
            ClientStatus::Complete => C::Complete,
            ClientStatus::Failed => C::Failed,
            ClientStatus::Lost => C::Lost,
        },
        tasks: a
            .tasks
            .into_iter()
            .map(|t| allocations::TaskState {
                name: t.name,
                state: match t.state {
                    TaskStatus::Pending => T::Pending,
                    TaskStatus::Running => T::Running,
                    TaskStatus::Dead => T::Dead,
                },
                failed: t.failed,
                started_at: t.started_at.map(time_out),
                finished_at: t.finished_at.map(time_out),
                restarts: t.restarts,
                last_restart: t.last_restart.map(time_out),
            })
            .collect(),
    }
}

fn node_info(n: cluster::NodeInfo) -> core_host::NodeInfo {
    core_host::NodeInfo {
        id: n.id,
        name: n.name,
        datacenter: n.datacenter,
        http_addr: n.http_addr,
        ready: n.status == cluster::NodeStatus::Ready,
        static_meta: n
            .static_meta
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect(),
        dynamic_meta: entries(n.dynamic_meta),
        last_seen: time(n.last_seen),
    }
}

fn placed(p: cluster::PlacedAllocation) -> core_host::PlacedAllocation {
    core_host::PlacedAllocation {
        node_id: p.node_id,
        allocation: allocation(p.allocation),
    }
}

fn entries(list: Vec<node::MetaEntry>) -> core_host::DynamicMeta {
    list.into_iter().map(|e| (e.key, e.value)).collect()
}

fn allocation(a: allocations::Allocation) -> core_host::Allocation {
    core_host::Allocation {
        id: a.id,
        namespace: a.namespace,
        job_id: a.job_id,
        task_group: a.task_group,
        client_status: match a.client_status {
            allocations::ClientStatus::Pending => core_host::ClientStatus::Pending,
            allocations::ClientStatus::Running => core_host::ClientStatus::Running,
            allocations::ClientStatus::Complete => core_host::ClientStatus::Complete,
            allocations::ClientStatus::Failed => core_host::ClientStatus::Failed,
            allocations::ClientStatus::Lost => core_host::ClientStatus::Lost,
        },
        tasks: a
            .tasks
            .into_iter()
            .map(|t| core_host::TaskState {
                name: t.name,
                state: match t.state {
                    allocations::TaskStatus::Pending => core_host::TaskStatus::Pending,
                    allocations::TaskStatus::Running => core_host::TaskStatus::Running,
                    allocations::TaskStatus::Dead => core_host::TaskStatus::Dead,
                },
                failed: t.failed,
                started_at: t.started_at.map(time),
                finished_at: t.finished_at.map(time),
                restarts: t.restarts,
                last_restart: t.last_restart.map(time),
            })
            .collect(),
    }
}

fn lifecycle_error(e: allocations::LifecycleError) -> core_host::LifecycleError {
    use allocations::LifecycleError as E;
    match e {
        E::NotFound => core_host::LifecycleError::NotFound,
        E::UnknownTask => core_host::LifecycleError::UnknownTask,
        E::NotRunning => core_host::LifecycleError::NotRunning,
        E::Terminal => core_host::LifecycleError::Terminal,
        E::UnknownSignal => core_host::LifecycleError::UnknownSignal,
        E::Io(message) => core_host::LifecycleError::Io(message),
    }
}

fn file_info(f: filesystem::FileInfo) -> core_host::FileInfo {
    core_host::FileInfo {
        name: f.name,
        size: f.size,
        mode: f.mode,
        modified: time(f.modified),
        inode: f.inode,
    }
}

fn fs_error(e: filesystem::FsError) -> core_host::FsError {
    use filesystem::FsError as E;
    match e {
        E::NotFound => core_host::FsError::NotFound,
        E::NotADirectory => core_host::FsError::NotADirectory,
        E::IsADirectory => core_host::FsError::IsADirectory,
        E::EscapesAllocDir => core_host::FsError::EscapesAllocDir,
        E::SecretFile => core_host::FsError::SecretFile,
        E::PrivateFile => core_host::FsError::PrivateFile,
        E::NotRegularFile => core_host::FsError::NotRegularFile,
        E::Io(message) => core_host::FsError::Io(message),
    }
}

fn disk(d: stats::DiskStats) -> core_host::DiskStats {
    core_host::DiskStats {
        device: d.device,
        mountpoint: d.mountpoint,
        size: d.size,
        used: d.used,
        available: d.available,
        used_percent: d.used_percent,
        inodes_used_percent: d.inodes_used_percent,
    }
}
