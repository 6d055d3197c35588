//! The core's side of the boundary's conversions: the WIT types of the component's imports
//! and export to the crate's plain types and back, as `From` impls. The host makes the same
//! conversions on its side for the natively linked core (`host/src/wit/convert/`).

use crate::acl::{CompiledPolicy, Disposition, NamespaceRule};
use crate::fs::stream::Step;
use crate::host as core;
use crate::http;

use super::bindings::caravan::client::{
    acl, allocations, cluster, filesystem, log, node, policy, relay, stats, types,
};
use super::bindings::exports::caravan::client::handler;

impl From<types::Timestamp> for core::Timestamp {
    fn from(t: types::Timestamp) -> Self {
        core::Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }
    }
}

impl From<core::Timestamp> for types::Timestamp {
    fn from(t: core::Timestamp) -> Self {
        types::Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }
    }
}

impl From<(String, String)> for types::Pair {
    fn from((name, value): (String, String)) -> Self {
        types::Pair { name, value }
    }
}

impl From<types::Pair> for (String, String) {
    fn from(p: types::Pair) -> Self {
        (p.name, p.value)
    }
}

fn pairs(list: Vec<(String, String)>) -> Vec<types::Pair> {
    list.into_iter().map(Into::into).collect()
}

/// A request as the core's `handle` takes it.
impl From<handler::Request> for http::Request {
    fn from(req: handler::Request) -> Self {
        http::Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers.into_iter().map(Into::into).collect(),
            body: req.body,
        }
    }
}

/// The core's response in the server's terms.
impl From<http::Response> for types::Response {
    fn from(r: http::Response) -> Self {
        types::Response {
            status: r.status,
            headers: pairs(r.headers),
            body: r.body,
        }
    }
}

/// The core's send-file in the server's terms.
impl From<http::SendFile> for handler::SendFile {
    fn from(s: http::SendFile) -> Self {
        handler::SendFile {
            alloc_id: s.alloc_id,
            path: s.path,
            offset: s.offset,
            limit: s.limit,
            headers: pairs(s.headers),
            vanished: s.vanished.into(),
        }
    }
}

/// The core's forward in the server's terms.
impl From<http::ForwardTo> for handler::ForwardTo {
    fn from(f: http::ForwardTo) -> Self {
        handler::ForwardTo {
            node_id: f.node_id,
            unreachable: f.unreachable.into(),
        }
    }
}

/// The core's exec decision in the server's terms.
impl From<http::ExecRequest> for handler::ExecRequest {
    fn from(e: http::ExecRequest) -> Self {
        handler::ExecRequest {
            alloc_id: e.alloc_id,
            task: e.task,
            command: e.command,
            tty: e.tty,
            not_running: e.not_running.into(),
        }
    }
}

/// A pull's result in the server's terms.
impl From<Step> for handler::Step {
    fn from(step: Step) -> Self {
        match step {
            Step::Data(data) => handler::Step::Data(data),
            Step::Wait(ms) => handler::Step::Wait(ms),
            Step::End => handler::Step::End,
        }
    }
}

impl From<core::LogLevel> for log::Level {
    fn from(level: core::LogLevel) -> Self {
        match level {
            core::LogLevel::Debug => log::Level::Debug,
            core::LogLevel::Info => log::Level::Info,
            core::LogLevel::Warn => log::Level::Warn,
            core::LogLevel::Error => log::Level::Error,
        }
    }
}

impl From<node::MetaEntry> for (String, Option<String>) {
    fn from(e: node::MetaEntry) -> Self {
        (e.key, e.value)
    }
}

impl From<(String, core::MetaOp)> for node::MetaChange {
    fn from((key, op): (String, core::MetaOp)) -> Self {
        node::MetaChange {
            key,
            op: match op {
                core::MetaOp::Set(value) => node::MetaOp::Set(value),
                core::MetaOp::Tombstone => node::MetaOp::Tombstone,
                core::MetaOp::Remove => node::MetaOp::Remove,
            },
        }
    }
}

impl From<acl::Token> for core::Token {
    fn from(t: acl::Token) -> Self {
        core::Token {
            accessor_id: t.accessor_id,
            name: t.name,
            management: t.token_type == acl::TokenType::Management,
            policies: t.policies,
            create_time: t.create_time.into(),
            expiration_time: t.expiration_time.map(Into::into),
            expiration_ttl: t.expiration_ttl,
            global: t.global,
            create_index: t.create_index,
            modify_index: t.modify_index,
            from_file: t.from_file,
        }
    }
}

impl From<core::Token> for acl::Token {
    fn from(t: core::Token) -> Self {
        use acl::TokenType::{Client, Management};
        acl::Token {
            accessor_id: t.accessor_id,
            name: t.name,
            token_type: if t.management { Management } else { Client },
            policies: t.policies,
            create_time: t.create_time.into(),
            expiration_time: t.expiration_time.map(Into::into),
            expiration_ttl: t.expiration_ttl,
            global: t.global,
            create_index: t.create_index,
            modify_index: t.modify_index,
            from_file: t.from_file,
        }
    }
}

/// Policies as the ACL API stores them: the same fields on both sides.
macro_rules! policy_document {
    ($from:ty => $to:path) => {
        impl From<$from> for $to {
            fn from(p: $from) -> Self {
                let (name, description, rules) = (p.name, p.description, p.rules);
                let (create_index, modify_index) = (p.create_index, p.modify_index);
                let from_file = p.from_file;
                $to {
                    name,
                    description,
                    rules,
                    create_index,
                    modify_index,
                    from_file,
                }
            }
        }
    };
}
policy_document!(acl::PolicyDocument => core::PolicyDocument);
policy_document!(core::PolicyDocument => acl::PolicyDocument);

impl From<acl::ResolveError> for core::ResolveError {
    fn from(e: acl::ResolveError) -> Self {
        match e {
            acl::ResolveError::NotFound => core::ResolveError::NotFound,
            acl::ResolveError::Expired => core::ResolveError::Expired,
        }
    }
}

impl From<acl::MintedToken> for core::MintedToken {
    fn from(minted: acl::MintedToken) -> Self {
        core::MintedToken {
            token: minted.token.into(),
            secret_id: minted.secret_id,
        }
    }
}

impl From<acl::BootstrapError> for core::BootstrapError {
    fn from(e: acl::BootstrapError) -> Self {
        match e {
            acl::BootstrapError::AlreadyDone => core::BootstrapError::AlreadyDone,
            acl::BootstrapError::Failed(why) => core::BootstrapError::Failed(why),
        }
    }
}

impl From<policy::CompiledPolicy> for CompiledPolicy {
    fn from(p: policy::CompiledPolicy) -> Self {
        CompiledPolicy {
            name: p.name,
            namespaces: p
                .namespaces
                .into_iter()
                .map(|r| NamespaceRule {
                    pattern: r.pattern,
                    capabilities: r.capabilities,
                })
                .collect(),
            node: p.node.map(Into::into),
            agent: p.agent.map(Into::into),
        }
    }
}

impl From<policy::Disposition> for Disposition {
    fn from(d: policy::Disposition) -> Self {
        match d {
            policy::Disposition::Deny => Disposition::Deny,
            policy::Disposition::Read => Disposition::Read,
            policy::Disposition::Write => Disposition::Write,
        }
    }
}

/// A heartbeat the core accepted, as the cluster capability records it.
impl From<core::Registration> for cluster::Registration {
    fn from(r: core::Registration) -> Self {
        let node = r.node;
        cluster::Registration {
            node: cluster::NodeRegistration {
                id: node.id,
                name: node.name,
                datacenter: node.datacenter,
                http_addr: node.http_addr,
                static_meta: pairs(node.static_meta.into_iter().collect()),
                dynamic_meta: node
                    .dynamic_meta
                    .into_iter()
                    .map(|(key, value)| node::MetaEntry { key, value })
                    .collect(),
            },
            allocations: r.allocations.into_iter().map(Into::into).collect(),
            certificate_sha256: r.certificate_sha256,
            secret_sha256: r.secret_sha256,
        }
    }
}

impl From<cluster::AgentRoles> for core::Roles {
    fn from(roles: cluster::AgentRoles) -> Self {
        core::Roles {
            server: roles.server,
            client: roles.client,
            ui: roles.ui,
        }
    }
}

impl From<cluster::NodeInfo> for core::NodeInfo {
    fn from(n: cluster::NodeInfo) -> Self {
        core::NodeInfo {
            id: n.id,
            name: n.name,
            datacenter: n.datacenter,
            http_addr: n.http_addr,
            ready: n.status == cluster::NodeStatus::Ready,
            static_meta: n.static_meta.into_iter().map(Into::into).collect(),
            dynamic_meta: n.dynamic_meta.into_iter().map(Into::into).collect(),
            last_seen: n.last_seen.into(),
            secret_sha256: n.secret_sha256,
        }
    }
}

impl From<cluster::PlacedAllocation> for core::PlacedAllocation {
    fn from(p: cluster::PlacedAllocation) -> Self {
        core::PlacedAllocation {
            node_id: p.node_id,
            allocation: p.allocation.into(),
        }
    }
}

impl From<allocations::ClientStatus> for core::ClientStatus {
    fn from(s: allocations::ClientStatus) -> Self {
        use allocations::ClientStatus as C;
        match s {
            C::Pending => core::ClientStatus::Pending,
            C::Running => core::ClientStatus::Running,
            C::Complete => core::ClientStatus::Complete,
            C::Failed => core::ClientStatus::Failed,
            C::Lost => core::ClientStatus::Lost,
        }
    }
}

impl From<core::ClientStatus> for allocations::ClientStatus {
    fn from(s: core::ClientStatus) -> Self {
        use allocations::ClientStatus as C;
        match s {
            core::ClientStatus::Pending => C::Pending,
            core::ClientStatus::Running => C::Running,
            core::ClientStatus::Complete => C::Complete,
            core::ClientStatus::Failed => C::Failed,
            core::ClientStatus::Lost => C::Lost,
        }
    }
}

impl From<allocations::TaskStatus> for core::TaskStatus {
    fn from(s: allocations::TaskStatus) -> Self {
        use allocations::TaskStatus as T;
        match s {
            T::Pending => core::TaskStatus::Pending,
            T::Running => core::TaskStatus::Running,
            T::Dead => core::TaskStatus::Dead,
        }
    }
}

impl From<core::TaskStatus> for allocations::TaskStatus {
    fn from(s: core::TaskStatus) -> Self {
        use allocations::TaskStatus as T;
        match s {
            core::TaskStatus::Pending => T::Pending,
            core::TaskStatus::Running => T::Running,
            core::TaskStatus::Dead => T::Dead,
        }
    }
}

impl From<allocations::TaskState> for core::TaskState {
    fn from(t: allocations::TaskState) -> Self {
        core::TaskState {
            name: t.name,
            state: t.state.into(),
            failed: t.failed,
            started_at: t.started_at.map(Into::into),
            finished_at: t.finished_at.map(Into::into),
            restarts: t.restarts,
            last_restart: t.last_restart.map(Into::into),
        }
    }
}

impl From<core::TaskState> for allocations::TaskState {
    fn from(t: core::TaskState) -> Self {
        allocations::TaskState {
            name: t.name,
            state: t.state.into(),
            failed: t.failed,
            started_at: t.started_at.map(Into::into),
            finished_at: t.finished_at.map(Into::into),
            restarts: t.restarts,
            last_restart: t.last_restart.map(Into::into),
        }
    }
}

impl From<allocations::Allocation> for core::Allocation {
    fn from(a: allocations::Allocation) -> Self {
        core::Allocation {
            id: a.id,
            namespace: a.namespace,
            job_id: a.job_id,
            task_group: a.task_group,
            client_status: a.client_status.into(),
            tasks: a.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core::Allocation> for allocations::Allocation {
    fn from(a: core::Allocation) -> Self {
        allocations::Allocation {
            id: a.id,
            namespace: a.namespace,
            job_id: a.job_id,
            task_group: a.task_group,
            client_status: a.client_status.into(),
            tasks: a.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<allocations::CollectError> for core::CollectError {
    fn from(e: allocations::CollectError) -> Self {
        match e {
            allocations::CollectError::NotFound => core::CollectError::NotFound,
            allocations::CollectError::NotTerminal => core::CollectError::NotTerminal,
            allocations::CollectError::Io(message) => core::CollectError::Io(message),
        }
    }
}

impl From<allocations::LifecycleError> for core::LifecycleError {
    fn from(e: allocations::LifecycleError) -> Self {
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
}

impl From<filesystem::FileInfo> for core::FileInfo {
    fn from(f: filesystem::FileInfo) -> Self {
        core::FileInfo {
            name: f.name,
            size: f.size,
            mode: f.mode,
            modified: f.modified.into(),
            inode: f.inode,
        }
    }
}

impl From<filesystem::FsError> for core::FsError {
    fn from(e: filesystem::FsError) -> Self {
        use filesystem::FsError as E;
        match e {
            E::NotFound => core::FsError::NotFound,
            E::NotADirectory => core::FsError::NotADirectory,
            E::IsADirectory => core::FsError::IsADirectory,
            E::EscapesAllocDir => core::FsError::EscapesAllocDir,
            E::SecretFile => core::FsError::SecretFile,
            E::PrivateFile => core::FsError::PrivateFile,
            E::NotRegularFile => core::FsError::NotRegularFile,
            E::Io(message) => core::FsError::Io(message),
        }
    }
}

impl From<filesystem::LogMark> for core::LogMark {
    fn from(m: filesystem::LogMark) -> Self {
        core::LogMark {
            offset: m.offset,
            time: m.time.into(),
        }
    }
}

impl From<stats::DiskStats> for core::DiskStats {
    fn from(d: stats::DiskStats) -> Self {
        core::DiskStats {
            device: d.device,
            mountpoint: d.mountpoint,
            size: d.size,
            used: d.used,
            available: d.available,
            used_percent: d.used_percent,
            inodes_used_percent: d.inodes_used_percent,
        }
    }
}

impl From<stats::HostStats> for core::HostStats {
    fn from(s: stats::HostStats) -> Self {
        core::HostStats {
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
            disks: s.disks.into_iter().map(Into::into).collect(),
            alloc_dir: s.alloc_dir.into(),
            uptime: s.uptime,
            cpu_ticks_consumed: s.cpu_ticks_consumed,
            taken_at: s.taken_at.into(),
        }
    }
}

impl From<stats::TaskUsage> for core::TaskUsage {
    fn from(t: stats::TaskUsage) -> Self {
        core::TaskUsage {
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
            taken_at: t.taken_at.into(),
        }
    }
}

/// A policy the core compiled, handed back to the host (`compile-policy`).
impl From<CompiledPolicy> for policy::CompiledPolicy {
    fn from(p: CompiledPolicy) -> Self {
        policy::CompiledPolicy {
            name: p.name,
            namespaces: p
                .namespaces
                .into_iter()
                .map(|r| policy::NamespaceRule {
                    pattern: r.pattern,
                    capabilities: r.capabilities,
                })
                .collect(),
            node: p.node.map(Into::into),
            agent: p.agent.map(Into::into),
        }
    }
}

impl From<Disposition> for policy::Disposition {
    fn from(d: Disposition) -> Self {
        match d {
            Disposition::Deny => policy::Disposition::Deny,
            Disposition::Read => policy::Disposition::Read,
            Disposition::Write => policy::Disposition::Write,
        }
    }
}

impl From<relay::Arrived> for core::Arrived {
    fn from(arrived: relay::Arrived) -> Self {
        match arrived {
            relay::Arrived::Pending => Self::Pending,
            relay::Arrived::Data(data) => Self::Data(data),
            relay::Arrived::End => Self::End,
            relay::Arrived::Refused(r) => Self::Refused(r.status, r.message),
            relay::Arrived::Failed(why) => Self::Failed(why),
        }
    }
}
