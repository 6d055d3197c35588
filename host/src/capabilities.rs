//! The host's half of the WIT contract: each imported interface implemented over the
//! daemon's state. Only conversions and calls live here; the logic is in `alloc_fs`,
//! `allocs`, `state` and `stats`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use wasmtime::StoreLimits;
use wasmtime::component::{Resource, ResourceTable};

use crate::acl_store::AclStore;
use crate::alloc_fs::{AllocFs, FsError};
use crate::allocs::{self, Registry};
use crate::bindings::{
    acl, allocations, cluster, filesystem, follow, log, node, policy, stats, types,
};
use crate::cluster::{Cluster, KnownNode, NodeRecord, Registration};
use crate::follow::{Follower, Subscription};
use crate::logging::{self, Level};
use crate::state::{MetaOp, StateStore};
use crate::stats::{DiskSample, HostStats};

/// Everything the imports need, shared by every request.
pub struct HostContext {
    pub node_id: String,
    pub static_meta: BTreeMap<String, String>,
    pub state: Arc<StateStore>,
    pub registry: Arc<Registry>,
    pub fs: AllocFs,
    pub stats: HostStats,
    pub follower: Arc<Follower>,
    pub acl: AclStore,
    /// Server and/or client.
    pub roles: cluster::AgentRoles,
    /// Other nodes, when this agent is a server.
    pub cluster: Cluster,
    pub node_name: String,
    pub datacenter: String,
    /// The address clients and servers reach this agent's HTTP API at (known once bound).
    pub http_addr: std::sync::OnceLock<String>,
}

impl HostContext {
    /// This node as it registers with servers.
    pub fn local_node(&self) -> NodeRecord {
        NodeRecord {
            id: self.node_id.clone(),
            name: self.node_name.clone(),
            datacenter: self.datacenter.clone(),
            http_addr: self.http_addr.get().cloned().unwrap_or_default(),
            static_meta: self.static_meta.clone(),
            dynamic_meta: self.state.dynamic_meta().unwrap_or_default(),
        }
    }

    /// One heartbeat's worth of this client.
    pub fn registration(&self) -> Registration {
        Registration {
            node: self.local_node(),
            allocations: self.registry.list(),
        }
    }

    /// The task names of an allocation, whose `secrets` and `private` dirs stay unread.
    pub fn task_names(&self, alloc_id: &str) -> Vec<String> {
        self.registry
            .get(alloc_id)
            .map(|r| r.spec.tasks.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }
}

/// The data of one store: one request's (or one stream's) instance of the core.
pub struct CoreState {
    pub ctx: Arc<HostContext>,
    pub limits: StoreLimits,
    /// Resources the core holds (its follow subscriptions).
    pub table: ResourceTable,
    /// Woken when a path this store's stream follows changes.
    pub waker: Arc<Notify>,
}

impl CoreState {
    pub fn new(ctx: Arc<HostContext>, limits: StoreLimits) -> Self {
        Self {
            ctx,
            limits,
            table: ResourceTable::new(),
            waker: Arc::new(Notify::new()),
        }
    }
}

fn timestamp(time: SystemTime) -> types::Timestamp {
    let (seconds, nanoseconds) = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    };
    types::Timestamp {
        seconds,
        nanoseconds,
    }
}

impl types::Host for CoreState {}

impl log::Host for CoreState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        logging::log(level, &format!("core: {message}"));
    }
}

impl node::Host for CoreState {
    fn node_id(&mut self) -> String {
        self.ctx.node_id.clone()
    }

    fn static_meta(&mut self) -> Vec<types::Pair> {
        self.ctx
            .static_meta
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    fn dynamic_meta(&mut self) -> Vec<node::MetaEntry> {
        match self.ctx.state.dynamic_meta() {
            Ok(meta) => entries(meta),
            Err(err) => {
                crate::error!("failed to read dynamic metadata: {err:#}");
                Vec::new()
            }
        }
    }

    fn apply_meta(
        &mut self,
        changes: Vec<node::MetaChange>,
    ) -> Result<Vec<node::MetaEntry>, String> {
        let changes: Vec<(String, MetaOp)> = changes
            .into_iter()
            .map(|c| {
                let op = match c.op {
                    node::MetaOp::Set(value) => MetaOp::Set(value),
                    node::MetaOp::Tombstone => MetaOp::Tombstone,
                    node::MetaOp::Remove => MetaOp::Remove,
                };
                (c.key, op)
            })
            .collect();
        self.ctx
            .state
            .apply_meta(&changes)
            .map(entries)
            .map_err(|e| format!("{e:#}"))
    }
}

fn entries(meta: BTreeMap<String, Option<String>>) -> Vec<node::MetaEntry> {
    meta.into_iter()
        .map(|(key, value)| node::MetaEntry { key, value })
        .collect()
}

impl allocations::Host for CoreState {
    fn get(&mut self, id: String) -> Option<allocations::Allocation> {
        self.ctx.registry.get(&id).map(allocation)
    }

    fn list(&mut self) -> Vec<allocations::Allocation> {
        self.ctx
            .registry
            .list()
            .into_iter()
            .map(allocation)
            .collect()
    }

    fn collect(&mut self, id: String) -> Result<(), String> {
        self.ctx.registry.collect(&id)
    }
}

fn allocation(record: allocs::AllocRecord) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    allocations::Allocation {
        id: record.spec.id,
        namespace: record.spec.namespace,
        job_id: record.spec.job_id,
        task_group: record.spec.task_group,
        client_status: match record.client_status {
            allocs::ClientStatus::Pending => C::Pending,
            allocs::ClientStatus::Running => C::Running,
            allocs::ClientStatus::Complete => C::Complete,
            allocs::ClientStatus::Failed => C::Failed,
            allocs::ClientStatus::Lost => C::Lost,
        },
        tasks: record
            .tasks
            .into_iter()
            .map(|t| allocations::TaskState {
                name: t.name,
                state: match t.state {
                    allocs::TaskStatus::Pending => T::Pending,
                    allocs::TaskStatus::Running => T::Running,
                    allocs::TaskStatus::Dead => T::Dead,
                },
                failed: t.failed,
                started_at: t.started_at.map(timestamp),
                finished_at: t.finished_at.map(timestamp),
            })
            .collect(),
    }
}

impl filesystem::Host for CoreState {
    fn stat(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<filesystem::FileInfo, filesystem::FsError> {
        self.ctx
            .fs
            .stat(&alloc_id, &path)
            .map(file_info)
            .map_err(fs_error)
    }

    fn list(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Vec<filesystem::FileInfo>, filesystem::FsError> {
        self.ctx
            .fs
            .list(&alloc_id, &path)
            .map(|infos| infos.into_iter().map(file_info).collect())
            .map_err(fs_error)
    }

    fn read_at(
        &mut self,
        alloc_id: String,
        path: String,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, filesystem::FsError> {
        let tasks = self.ctx.task_names(&alloc_id);
        self.ctx
            .fs
            .read_at(&alloc_id, &path, offset, length, &tasks)
            .map_err(fs_error)
    }
}

fn file_info(info: crate::alloc_fs::FileInfo) -> filesystem::FileInfo {
    filesystem::FileInfo {
        name: info.name,
        size: info.size,
        mode: info.mode,
        modified: types::Timestamp {
            seconds: info.modified.0,
            nanoseconds: info.modified.1,
        },
        inode: info.inode,
    }
}

fn fs_error(err: FsError) -> filesystem::FsError {
    use filesystem::FsError as E;
    match err {
        FsError::NotFound => E::NotFound,
        FsError::NotADirectory => E::NotADirectory,
        FsError::IsADirectory => E::IsADirectory,
        FsError::EscapesAllocDir => E::EscapesAllocDir,
        FsError::SecretFile => E::SecretFile,
        FsError::PrivateFile => E::PrivateFile,
        FsError::NotRegularFile => E::NotRegularFile,
        FsError::Io(message) => E::Io(message),
    }
}

impl follow::Host for CoreState {
    fn watch(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<Subscription>, filesystem::FsError> {
        let target = self.ctx.fs.resolve(&alloc_id, &path).map_err(fs_error)?;
        let info = self.ctx.fs.stat(&alloc_id, &path).map_err(fs_error)?;
        let is_dir = info.mode & libc::S_IFMT == libc::S_IFDIR;
        let subscription = self
            .ctx
            .follower
            .subscribe(&target, is_dir, self.waker.clone())
            .map_err(|e| filesystem::FsError::Io(format!("{e:#}")))?;
        self.table
            .push(subscription)
            .map_err(|_| filesystem::FsError::Io("too many subscriptions".into()))
    }
}

impl follow::HostSubscription for CoreState {
    fn drop(&mut self, subscription: Resource<Subscription>) -> wasmtime::Result<()> {
        self.table.delete(subscription)?;
        Ok(())
    }
}

impl policy::Host for CoreState {}

impl cluster::Host for CoreState {
    fn roles(&mut self) -> cluster::AgentRoles {
        self.ctx.roles
    }

    fn node(&mut self, id: String) -> Option<cluster::NodeInfo> {
        if self.ctx.roles.client && id == self.ctx.node_id {
            return Some(self.local_node_info());
        }
        self.ctx.cluster.node(&id).map(node_info)
    }

    fn nodes(&mut self) -> Vec<cluster::NodeInfo> {
        let mut nodes: Vec<cluster::NodeInfo> = self
            .ctx
            .cluster
            .nodes()
            .into_iter()
            .filter(|n| n.record.id != self.ctx.node_id)
            .map(node_info)
            .collect();
        if self.ctx.roles.client {
            nodes.push(self.local_node_info());
        }
        nodes
    }

    fn find_allocation(&mut self, id: String) -> Option<cluster::PlacedAllocation> {
        if self.ctx.roles.client
            && let Some(record) = self.ctx.registry.get(&id)
        {
            return Some(cluster::PlacedAllocation {
                node_id: self.ctx.node_id.clone(),
                allocation: allocation(record),
            });
        }
        self.ctx
            .cluster
            .allocations()
            .into_iter()
            .find(|(_, a)| a.spec.id == id)
            .map(|(node_id, record)| cluster::PlacedAllocation {
                node_id,
                allocation: allocation(record),
            })
    }

    fn all_allocations(&mut self) -> Vec<cluster::PlacedAllocation> {
        let local = &self.ctx.node_id;
        let mut placed: Vec<cluster::PlacedAllocation> = self
            .ctx
            .cluster
            .allocations()
            .into_iter()
            .filter(|(node_id, _)| node_id != local)
            .map(|(node_id, record)| cluster::PlacedAllocation {
                node_id,
                allocation: allocation(record),
            })
            .collect();
        if self.ctx.roles.client {
            placed.extend(self.ctx.registry.list().into_iter().map(|record| {
                cluster::PlacedAllocation {
                    node_id: local.clone(),
                    allocation: allocation(record),
                }
            }));
        }
        placed
    }
}

impl CoreState {
    fn local_node_info(&self) -> cluster::NodeInfo {
        node_info(KnownNode {
            record: self.ctx.local_node(),
            ready: true,
            last_seen: SystemTime::now(),
        })
    }
}

fn node_info(node: KnownNode) -> cluster::NodeInfo {
    cluster::NodeInfo {
        id: node.record.id,
        name: node.record.name,
        datacenter: node.record.datacenter,
        http_addr: node.record.http_addr,
        status: if node.ready {
            cluster::NodeStatus::Ready
        } else {
            cluster::NodeStatus::Down
        },
        static_meta: node
            .record
            .static_meta
            .into_iter()
            .map(|(name, value)| types::Pair { name, value })
            .collect(),
        dynamic_meta: entries(node.record.dynamic_meta),
        last_seen: timestamp(node.last_seen),
    }
}

impl acl::Host for CoreState {
    fn enabled(&mut self) -> bool {
        self.ctx.acl.enabled()
    }

    fn resolve_token(&mut self, secret_id: String) -> Result<acl::Token, acl::ResolveError> {
        self.ctx.acl.resolve(&secret_id)
    }

    fn policies(&mut self, names: Vec<String>) -> Vec<policy::CompiledPolicy> {
        self.ctx.acl.policies(&names)
    }
}

impl stats::Host for CoreState {
    fn host(&mut self) -> Option<stats::HostStats> {
        let sample = self.ctx.stats.latest()?;
        Some(stats::HostStats {
            memory: stats::MemoryStats {
                total: sample.memory.total,
                available: sample.memory.available,
                used: sample.memory.used,
                free: sample.memory.free,
            },
            cpu: sample
                .cpus
                .into_iter()
                .map(|c| stats::CpuStats {
                    name: c.name,
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: sample.disks.into_iter().map(disk).collect(),
            alloc_dir: disk(sample.alloc_dir),
            uptime: sample.uptime,
            cpu_ticks_consumed: sample.cpu_ticks_consumed,
            taken_at: timestamp(sample.taken_at),
        })
    }

    /// The latest background sample of each running task's process tree.
    fn allocation(&mut self, alloc_id: String) -> Vec<stats::TaskUsage> {
        self.ctx
            .registry
            .usage(&alloc_id)
            .into_iter()
            .map(|task| stats::TaskUsage {
                task: task.task,
                processes: task
                    .processes
                    .into_iter()
                    .map(|p| stats::ProcessUsage {
                        pid: p.pid,
                        rss: p.rss,
                        swap: p.swap,
                        cpu_percent: p.cpu_percent,
                        user_mode: p.user_mode,
                        system_mode: p.system_mode,
                        total_ticks: p.total_ticks,
                    })
                    .collect(),
                taken_at: timestamp(task.taken_at),
            })
            .collect()
    }
}

fn disk(d: DiskSample) -> stats::DiskStats {
    stats::DiskStats {
        device: d.device,
        mountpoint: d.mountpoint,
        size: d.size,
        used: d.used,
        available: d.available,
        used_percent: d.used_percent,
        inodes_used_percent: d.inodes_used_percent,
    }
}
