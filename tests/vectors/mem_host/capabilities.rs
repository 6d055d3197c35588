//! The in-memory host's side of every WIT interface the core imports.

use super::*;

impl types::Host for MemHost {}
impl policy::Host for MemHost {}

impl log::Host for MemHost {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.logs.push((level.into(), message));
    }
}

impl node::Host for MemHost {
    fn node_id(&mut self) -> String {
        self.fixture.node_id.clone()
    }

    fn static_meta(&mut self) -> Vec<types::Pair> {
        self.fixture
            .static_meta
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    fn dynamic_meta(&mut self) -> Vec<node::MetaEntry> {
        meta_entries(&self.dynamic_meta)
    }

    fn apply_meta(
        &mut self,
        changes: Vec<node::MetaChange>,
    ) -> Result<Vec<node::MetaEntry>, String> {
        if let Some(fault) = &self.fixture.faults.apply_meta {
            return Err(fault.clone());
        }
        for change in changes {
            match change.op {
                node::MetaOp::Set(v) => self.dynamic_meta.insert(change.key, Some(v)),
                node::MetaOp::Tombstone => self.dynamic_meta.insert(change.key, None),
                node::MetaOp::Remove => self.dynamic_meta.remove(&change.key),
            };
        }
        Ok(meta_entries(&self.dynamic_meta))
    }
}

pub(crate) fn meta_entries(meta: &BTreeMap<String, Option<String>>) -> Vec<node::MetaEntry> {
    meta.iter()
        .map(|(key, value)| node::MetaEntry {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

impl allocations::Host for MemHost {
    fn get(&mut self, id: String) -> Option<allocations::Allocation> {
        self.list().into_iter().find(|a| a.id == id)
    }

    fn list(&mut self) -> Vec<allocations::Allocation> {
        self.fixture
            .allocations
            .iter()
            .filter(|a| !self.collected.contains(&a.id))
            .map(allocation)
            .collect()
    }

    fn collect(&mut self, id: String) -> Result<(), allocations::CollectError> {
        use allocations::CollectError as E;
        match &self.fixture.faults.collect {
            None => {}
            Some(CollectFault::NotFound) => return Err(E::NotFound),
            Some(CollectFault::NotTerminal) => return Err(E::NotTerminal),
            Some(CollectFault::Io(message)) => return Err(E::Io(message.clone())),
        }
        self.collected.push(id);
        Ok(())
    }

    fn restart(
        &mut self,
        alloc_id: String,
        task: Option<String>,
    ) -> Result<(), allocations::LifecycleError> {
        self.lifecycle_fault()?;
        self.lifecycle
            .push(serde_json::json!(["restart", alloc_id, task]));
        Ok(())
    }

    fn signal(
        &mut self,
        alloc_id: String,
        task: Option<String>,
        signal: String,
    ) -> Result<(), allocations::LifecycleError> {
        self.lifecycle_fault()?;
        self.lifecycle
            .push(serde_json::json!(["signal", alloc_id, task, signal]));
        Ok(())
    }
}

impl MemHost {
    pub(crate) fn lifecycle_fault(&self) -> Result<(), allocations::LifecycleError> {
        use allocations::LifecycleError as E;
        match &self.fixture.faults.lifecycle {
            None => Ok(()),
            Some(LifecycleFault::NotFound) => Err(E::NotFound),
            Some(LifecycleFault::UnknownTask) => Err(E::UnknownTask),
            Some(LifecycleFault::NotRunning) => Err(E::NotRunning),
            Some(LifecycleFault::Terminal) => Err(E::Terminal),
            Some(LifecycleFault::UnknownSignal) => Err(E::UnknownSignal),
            Some(LifecycleFault::Io(message)) => Err(E::Io(message.clone())),
        }
    }
}

/// The fixture is a client agent on its own: it is the only node it knows.
impl cluster::Host for MemHost {
    fn roles(&mut self) -> cluster::AgentRoles {
        let roles = self.fixture.roles.unwrap_or(RolesFixture {
            server: false,
            client: true,
            ui: true,
        });
        cluster::AgentRoles {
            server: roles.server,
            client: roles.client,
            ui: roles.ui,
        }
    }

    fn register(&mut self, r: cluster::Registration) -> Result<(), String> {
        let pairs = |list: Vec<types::Pair>| -> serde_json::Map<String, Value> {
            list.into_iter().map(|p| (p.name, p.value.into())).collect()
        };
        let status = |s: allocations::ClientStatus| match s {
            allocations::ClientStatus::Pending => "pending",
            allocations::ClientStatus::Running => "running",
            allocations::ClientStatus::Complete => "complete",
            allocations::ClientStatus::Failed => "failed",
            allocations::ClientStatus::Lost => "lost",
        };
        let certificate = r.certificate_sha256.clone();
        self.registered.push(serde_json::json!({
            "id": r.node.id,
            "name": r.node.name,
            "datacenter": r.node.datacenter,
            "http_addr": r.node.http_addr,
            "static_meta": pairs(r.node.static_meta),
            "dynamic_meta": r.node.dynamic_meta.into_iter()
                .map(|e| (e.key, e.value.map_or(Value::Null, Value::from)))
                .collect::<serde_json::Map<_, _>>(),
            "allocations": r.allocations.into_iter()
                .map(|a| serde_json::json!([a.id, a.namespace, status(a.client_status), a.tasks.len()]))
                .collect::<Vec<_>>(),
        }));
        if let (Some(certificate), Some(Value::Object(summary))) =
            (certificate, self.registered.last_mut())
        {
            summary.insert("certificate_sha256".into(), certificate.into());
        }
        Ok(())
    }

    fn node(&mut self, id: String) -> Option<cluster::NodeInfo> {
        (id == self.fixture.node_id).then(|| self.local_node())
    }

    fn nodes(&mut self) -> Vec<cluster::NodeInfo> {
        vec![self.local_node()]
    }

    fn find_allocation(&mut self, id: String) -> Option<cluster::PlacedAllocation> {
        let node_id = self.fixture.node_id.clone();
        allocations::Host::get(self, id).map(|allocation| cluster::PlacedAllocation {
            node_id,
            allocation,
        })
    }

    fn all_allocations(&mut self) -> Vec<cluster::PlacedAllocation> {
        let node_id = self.fixture.node_id.clone();
        allocations::Host::list(self)
            .into_iter()
            .map(|allocation| cluster::PlacedAllocation {
                node_id: node_id.clone(),
                allocation,
            })
            .collect()
    }
}

impl MemHost {
    pub(crate) fn local_node(&mut self) -> cluster::NodeInfo {
        cluster::NodeInfo {
            id: self.fixture.node_id.clone(),
            name: "vectors".into(),
            datacenter: "dc1".into(),
            http_addr: "127.0.0.1:4646".into(),
            status: cluster::NodeStatus::Ready,
            static_meta: node::Host::static_meta(self),
            dynamic_meta: node::Host::dynamic_meta(self),
            last_seen: types::Timestamp {
                seconds: 0,
                nanoseconds: 0,
            },
            secret_sha256: None,
        }
    }
}

pub(crate) fn allocation(a: &AllocFixture) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    allocations::Allocation {
        id: a.id.clone(),
        namespace: a.namespace.clone(),
        job_id: a.job_id.clone(),
        task_group: a.task_group.clone(),
        client_status: match a.client_status.as_str() {
            "pending" => C::Pending,
            "running" => C::Running,
            "complete" => C::Complete,
            "failed" => C::Failed,
            "lost" => C::Lost,
            other => panic!("unknown client status {other:?}"),
        },
        tasks: a
            .tasks
            .iter()
            .map(|t| allocations::TaskState {
                name: t.name.clone(),
                state: match t.state.as_str() {
                    "pending" => T::Pending,
                    "running" => T::Running,
                    "dead" => T::Dead,
                    other => panic!("unknown task state {other:?}"),
                },
                failed: t.failed,
                started_at: t.started_at.map(Into::into),
                finished_at: t.finished_at.map(Into::into),
                restarts: t.restarts,
                last_restart: t.last_restart.map(Into::into),
            })
            .collect(),
    }
}

impl filesystem::Host for MemHost {
    fn stat(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<filesystem::FileInfo, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        Ok(tree[&real].info(base_name(&path)))
    }

    fn list(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<filesystem::Listing>, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        if !matches!(tree[&real].kind, Kind::Dir) {
            return Err(filesystem::FsError::NotADirectory);
        }
        // Paths under one parent sort as their names do: the contract's order.
        let entries = tree
            .iter()
            .filter(|(p, _)| !p.is_empty() && parent(p) == real)
            .map(|(p, entry)| entry.info(base_name(p)))
            .collect();
        self.next_listing += 1;
        self.listings.insert(self.next_listing, (entries, 0));
        Ok(Resource::new_own(self.next_listing))
    }

    fn read_at(
        &mut self,
        alloc_id: String,
        path: String,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, filesystem::FsError> {
        use filesystem::FsError;
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        let entry = &tree[&real];
        let data = match &entry.kind {
            Kind::Dir => return Err(FsError::IsADirectory),
            Kind::Fifo | Kind::Symlink(_) => return Err(FsError::NotRegularFile),
            Kind::File(data) => data,
        };
        let mut parts = real.split('/');
        let (first, second) = (parts.next().unwrap_or(""), parts.next());
        let is_task = self
            .fixture
            .allocations
            .iter()
            .filter(|a| a.id == alloc_id)
            .flat_map(|a| &a.tasks)
            .any(|t| t.name == first);
        match second {
            Some("secrets") if is_task => return Err(FsError::SecretFile),
            Some("private") if is_task => return Err(FsError::PrivateFile),
            _ => {}
        }
        if let Some(message) = &entry.read_error {
            return Err(FsError::Io(message.clone()));
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(length as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn log_marks(
        &mut self,
        alloc_id: String,
        path: String,
        start: u64,
        end: u64,
    ) -> Result<Vec<filesystem::LogMark>, filesystem::FsError> {
        let tree = self.tree(&alloc_id)?;
        let real = resolve(tree, &path, true)?;
        let marks = self
            .fixture
            .allocations
            .iter()
            .filter(|a| a.id == alloc_id)
            .flat_map(|a| &a.files)
            .find(|f| f.path == real)
            .and_then(|f| f.marks.as_ref());
        let marks = marks.map_or(&[][..], Vec::as_slice);
        // The last mark at or before `start`, then every later one before `end`.
        let first = marks.iter().rposition(|m| m.offset <= start).unwrap_or(0);
        Ok(marks[first.min(marks.len())..]
            .iter()
            .filter(|m| m.offset <= start || m.offset < end)
            .map(|m| filesystem::LogMark {
                offset: m.offset,
                time: m.time.into(),
            })
            .collect())
    }

    fn now(&mut self) -> types::Timestamp {
        self.fixture.now.into()
    }
}

impl filesystem::HostListing for MemHost {
    fn next(
        &mut self,
        listing: Resource<filesystem::Listing>,
        max: u32,
    ) -> Result<Vec<filesystem::FileInfo>, filesystem::FsError> {
        let Some((entries, read)) = self.listings.get_mut(&listing.rep()) else {
            return Err(filesystem::FsError::Io("no such listing".into()));
        };
        let page: Vec<_> = entries
            .iter()
            .skip(*read)
            .take(max as usize)
            .cloned()
            .collect();
        *read += page.len();
        Ok(page)
    }

    fn drop(&mut self, listing: Resource<filesystem::Listing>) -> wasmtime::Result<()> {
        self.listings.remove(&listing.rep());
        Ok(())
    }
}

impl follow::Host for MemHost {
    fn watch(
        &mut self,
        alloc_id: String,
        path: String,
    ) -> Result<Resource<Subscription>, filesystem::FsError> {
        resolve(self.tree(&alloc_id)?, &path, true)?;
        self.watched.push(path);
        self.live_subscriptions += 1;
        self.next_subscription += 1;
        Ok(Resource::new_own(self.next_subscription))
    }
}

impl follow::HostSubscription for MemHost {
    fn drop(&mut self, _subscription: Resource<Subscription>) -> wasmtime::Result<()> {
        self.live_subscriptions -= 1;
        Ok(())
    }
}

/// What the vector hosts answer to an ACL API write.
const NO_WRITES: &str = "the vector host stores no ACL changes";

impl acl::Host for MemHost {
    fn enabled(&mut self) -> bool {
        self.fixture.acl.enabled
    }

    fn resolve_token(&mut self, secret_id: String) -> Result<acl::Token, acl::ResolveError> {
        let token = self
            .fixture
            .acl
            .tokens
            .iter()
            .find(|t| t.secret == secret_id)
            .ok_or(acl::ResolveError::NotFound)?;
        if token.expired {
            return Err(acl::ResolveError::Expired);
        }
        Ok(acl::Token {
            accessor_id: token.accessor_id.clone(),
            name: token.name.clone(),
            token_type: match token.token_type.as_str() {
                "management" => acl::TokenType::Management,
                "client" => acl::TokenType::Client,
                other => panic!("unknown token type {other:?}"),
            },
            policies: token.policies.clone(),
            create_time: token.create_time.into(),
            expiration_time: token.expiration_time.map(Into::into),
            expiration_ttl: 0,
            global: false,
            create_index: 0,
            modify_index: 0,
            from_file: true,
        })
    }

    fn bootstrap(&mut self) -> Result<acl::MintedToken, acl::BootstrapError> {
        if let Some(fault) = &self.fixture.faults.bootstrap {
            return Err(acl::BootstrapError::Failed(fault.clone()));
        }
        let acl = &self.fixture.acl;
        if self.bootstrapped || acl.tokens.iter().any(|t| t.token_type == "management") {
            return Err(acl::BootstrapError::AlreadyDone);
        }
        let minted = acl
            .bootstrap
            .clone()
            .ok_or_else(|| acl::BootstrapError::Failed("no acl.bootstrap in the fixture".into()))?;
        self.bootstrapped = true;
        Ok(acl::MintedToken {
            token: acl::Token {
                accessor_id: minted.accessor_id,
                name: "Bootstrap Token".into(),
                token_type: acl::TokenType::Management,
                policies: Vec::new(),
                create_time: minted.create_time.into(),
                expiration_time: None,
                expiration_ttl: 0,
                global: true,
                create_index: 0,
                modify_index: 0,
                from_file: false,
            },
            secret_id: minted.secret,
        })
    }

    // The fixtures hold their tokens and compiled policies; the ACL API's writes are
    // exercised against real agents (tests/e2e/acl_api.rs), not by the vectors.
    fn list_policies(&mut self) -> Vec<acl::PolicyDocument> {
        Vec::new()
    }

    fn put_policy(
        &mut self,
        _: acl::PolicyDocument,
        _: policy::CompiledPolicy,
    ) -> Result<(), String> {
        Err(NO_WRITES.into())
    }

    fn delete_policy(&mut self, _: String) -> Result<bool, String> {
        Err(NO_WRITES.into())
    }

    fn list_tokens(&mut self) -> Vec<acl::Token> {
        Vec::new()
    }

    fn create_token(&mut self, _: acl::Token) -> Result<acl::MintedToken, String> {
        Err(NO_WRITES.into())
    }

    fn update_token(&mut self, _: acl::Token) -> Result<Option<acl::Token>, String> {
        Err(NO_WRITES.into())
    }

    fn delete_token(&mut self, _: String) -> Result<bool, String> {
        Err(NO_WRITES.into())
    }

    fn policies(&mut self, names: Vec<String>) -> Vec<policy::CompiledPolicy> {
        names
            .iter()
            .filter_map(|n| self.compiled.iter().find(|p| &p.name == n).cloned())
            .collect()
    }
}

impl stats::Host for MemHost {
    fn host(&mut self) -> Option<stats::HostStats> {
        let s = self.fixture.host_stats.as_ref()?;
        Some(stats::HostStats {
            memory: stats::MemoryStats {
                total: s.memory.total,
                available: s.memory.available,
                used: s.memory.used,
                free: s.memory.free,
            },
            cpu: s
                .cpu
                .iter()
                .map(|c| stats::CpuStats {
                    name: c.name.clone(),
                    user: c.user,
                    system: c.system,
                    idle: c.idle,
                    total_percent: c.total_percent,
                    total_ticks: c.total_ticks,
                })
                .collect(),
            disks: s.disks.iter().map(disk).collect(),
            alloc_dir: disk(&s.alloc_dir),
            uptime: s.uptime,
            cpu_ticks_consumed: s.cpu_ticks_consumed,
            taken_at: s.taken_at.into(),
        })
    }

    fn allocation(&mut self, alloc_id: String) -> Vec<stats::TaskUsage> {
        self.fixture
            .task_usage
            .get(&alloc_id)
            .into_iter()
            .flatten()
            .map(|t| stats::TaskUsage {
                task: t.task.clone(),
                processes: t
                    .processes
                    .iter()
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
                taken_at: t.taken_at.into(),
            })
            .collect()
    }
}

pub(crate) fn disk(d: &DiskFixture) -> stats::DiskStats {
    stats::DiskStats {
        device: d.device.clone(),
        mountpoint: d.mountpoint.clone(),
        size: d.size,
        used: d.used,
        available: d.available,
        used_percent: d.used_percent,
        inodes_used_percent: d.inodes_used_percent,
    }
}
