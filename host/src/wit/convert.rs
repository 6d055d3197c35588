//! The WIT types of the capabilities to the core's plain types and back: the conversions the
//! component's glue (`core/src/wasm/bindings.rs`) makes on the other side of the boundary, for the
//! natively linked baseline (`native.rs`).

use caravan_core::acl::{CompiledPolicy, Disposition, NamespaceRule};
use caravan_core::host as core;

use crate::capabilities::bindings::{
    acl, allocations, cluster, filesystem, node, policy, stats, types,
};

pub(super) fn time(t: types::Timestamp) -> core::Timestamp {
    core::Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

fn time_out(t: core::Timestamp) -> types::Timestamp {
    types::Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

pub(super) fn token(t: acl::Token) -> core::Token {
    core::Token {
        accessor_id: t.accessor_id,
        name: t.name,
        management: t.token_type == acl::TokenType::Management,
        policies: t.policies,
        create_time: time(t.create_time),
        expiration_time: t.expiration_time.map(time),
    }
}

pub(super) fn policy(p: policy::CompiledPolicy) -> CompiledPolicy {
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
        node: p.node.map(disposition),
        agent: p.agent.map(disposition),
    }
}

/// A heartbeat the core accepted, as the cluster capability records it.
pub(super) fn registration_out(r: core::Registration) -> cluster::Registration {
    let node = r.node;
    cluster::Registration {
        node: cluster::NodeRegistration {
            id: node.id,
            name: node.name,
            datacenter: node.datacenter,
            http_addr: node.http_addr,
            static_meta: node
                .static_meta
                .into_iter()
                .map(|(name, value)| types::Pair { name, value })
                .collect(),
            dynamic_meta: node
                .dynamic_meta
                .into_iter()
                .map(|(key, value)| node::MetaEntry { key, value })
                .collect(),
        },
        allocations: r.allocations.into_iter().map(allocation_out).collect(),
        certificate_sha256: r.certificate_sha256,
    }
}

fn allocation_out(a: core::Allocation) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    allocations::Allocation {
        id: a.id,
        namespace: a.namespace,
        job_id: a.job_id,
        task_group: a.task_group,
        client_status: match a.client_status {
            core::ClientStatus::Pending => C::Pending,
            core::ClientStatus::Running => C::Running,
            core::ClientStatus::Complete => C::Complete,
            core::ClientStatus::Failed => C::Failed,
            core::ClientStatus::Lost => C::Lost,
        },
        tasks: a
            .tasks
            .into_iter()
            .map(|t| allocations::TaskState {
                name: t.name,
                state: match t.state {
                    core::TaskStatus::Pending => T::Pending,
                    core::TaskStatus::Running => T::Running,
                    core::TaskStatus::Dead => T::Dead,
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

pub(super) fn meta(entries: Vec<node::MetaEntry>) -> core::DynamicMeta {
    entries.into_iter().map(|e| (e.key, e.value)).collect()
}

pub(super) fn node_info(n: cluster::NodeInfo) -> core::NodeInfo {
    core::NodeInfo {
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
        dynamic_meta: meta(n.dynamic_meta),
        last_seen: time(n.last_seen),
    }
}

pub(super) fn placed(p: cluster::PlacedAllocation) -> core::PlacedAllocation {
    core::PlacedAllocation {
        node_id: p.node_id,
        allocation: allocation(p.allocation),
    }
}

pub(super) fn allocation(a: allocations::Allocation) -> core::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    core::Allocation {
        id: a.id,
        namespace: a.namespace,
        job_id: a.job_id,
        task_group: a.task_group,
        client_status: match a.client_status {
            C::Pending => core::ClientStatus::Pending,
            C::Running => core::ClientStatus::Running,
            C::Complete => core::ClientStatus::Complete,
            C::Failed => core::ClientStatus::Failed,
            C::Lost => core::ClientStatus::Lost,
        },
        tasks: a
            .tasks
            .into_iter()
            .map(|t| core::TaskState {
                name: t.name,
                state: match t.state {
                    T::Pending => core::TaskStatus::Pending,
                    T::Running => core::TaskStatus::Running,
                    T::Dead => core::TaskStatus::Dead,
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

pub(super) fn file_info(f: filesystem::FileInfo) -> core::FileInfo {
    core::FileInfo {
        name: f.name,
        size: f.size,
        mode: f.mode,
        modified: time(f.modified),
        inode: f.inode,
    }
}

pub(super) fn fs_error(e: filesystem::FsError) -> core::FsError {
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

pub(super) fn disk(d: stats::DiskStats) -> core::DiskStats {
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

pub(super) fn disposition(d: policy::Disposition) -> Disposition {
    match d {
        policy::Disposition::Deny => Disposition::Deny,
        policy::Disposition::Read => Disposition::Read,
        policy::Disposition::Write => Disposition::Write,
    }
}
