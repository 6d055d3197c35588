//! The fake's answers to the [`Host`] trait, from the state its fields hold.

use std::collections::BTreeMap;

use super::*;

impl Host for Fake {
    type Watch = ();
    type Listing = FakeListing;

    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }

    fn node_id(&self) -> String {
        NODE.into()
    }

    fn static_meta(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("rack".to_string(), "r1".to_string())])
    }

    fn dynamic_meta(&self) -> DynamicMeta {
        self.dynamic.borrow().clone()
    }

    fn apply_meta(&self, changes: Vec<(String, MetaOp)>) -> Result<DynamicMeta, String> {
        let mut dynamic = self.dynamic.borrow_mut();
        for (key, op) in changes {
            match op {
                MetaOp::Set(v) => dynamic.insert(key, Some(v)),
                MetaOp::Tombstone => dynamic.insert(key, None),
                MetaOp::Remove => dynamic.remove(&key),
            };
        }
        Ok(dynamic.clone())
    }

    fn allocation(&self, id: &str) -> Option<Allocation> {
        (id == ALLOC && !self.collected.borrow().iter().any(|c| c == id)).then(|| Allocation {
            id: ALLOC.into(),
            namespace: "default".into(),
            job_id: "web".into(),
            task_group: "web".into(),
            client_status: *self.status.borrow(),
            tasks: vec![TaskState {
                name: "web".into(),
                state: if *self.task_dead.borrow() {
                    TaskStatus::Dead
                } else if *self.task_running.borrow() {
                    TaskStatus::Running
                } else {
                    TaskStatus::Pending
                },
                failed: false,
                started_at: self.task_started.borrow().then_some(Timestamp::default()),
                finished_at: None,
                restarts: 0,
                last_restart: None,
            }],
        })
    }

    fn allocations(&self) -> Vec<Allocation> {
        self.allocation(ALLOC).into_iter().collect()
    }

    fn collect(&self, id: &str) -> Result<(), CollectError> {
        if let Some(err) = self.collect_error.borrow().clone() {
            return Err(err);
        }
        self.collected.borrow_mut().push(id.to_string());
        Ok(())
    }

    fn restart(&self, _alloc_id: &str, task: Option<&str>) -> Result<(), LifecycleError> {
        if let Some(err) = self.lifecycle_error.borrow().clone() {
            return Err(err);
        }
        let task = task.unwrap_or("*");
        self.lifecycle.borrow_mut().push(format!("restart {task}"));
        Ok(())
    }

    fn signal(
        &self,
        _alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), LifecycleError> {
        if let Some(err) = self.lifecycle_error.borrow().clone() {
            return Err(err);
        }
        let task = task.unwrap_or("*");
        self.lifecycle
            .borrow_mut()
            .push(format!("signal {task} {signal}"));
        Ok(())
    }

    fn stat(&self, _alloc_id: &str, path: &str) -> Result<FileInfo, FsError> {
        self.info(path)
    }

    fn list(&self, _alloc_id: &str, path: &str) -> Result<Self::Listing, FsError> {
        if self.files.borrow().contains_key(path) {
            return Err(FsError::NotADirectory);
        }
        if !self.is_dir(path) {
            return Err(FsError::NotFound);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut names: Vec<String> = self
            .files
            .borrow()
            .keys()
            .filter_map(|f| f.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        let infos: Result<Vec<FileInfo>, FsError> = names
            .iter()
            .map(|n| self.info(&format!("{prefix}{n}")))
            .collect();
        Ok(RefCell::new(infos?.into_iter()))
    }

    fn list_next(&self, listing: &Self::Listing, max: u32) -> Result<Vec<FileInfo>, FsError> {
        Ok(listing.borrow_mut().by_ref().take(max as usize).collect())
    }

    fn read_at(
        &self,
        _alloc_id: &str,
        path: &str,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, FsError> {
        *self.reads.borrow_mut() += 1;
        if path.starts_with("web/secrets") {
            return Err(FsError::SecretFile);
        }
        match self.files.borrow().get(path) {
            Some(data) => {
                let start = (offset as usize).min(data.len());
                let end = (start + length as usize).min(data.len());
                Ok(data[start..end].to_vec())
            }
            None if self.is_dir(path) => Err(FsError::IsADirectory),
            None => Err(FsError::NotFound),
        }
    }

    fn log_marks(
        &self,
        _alloc_id: &str,
        path: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<LogMark>, FsError> {
        if !self.files.borrow().contains_key(path) {
            return Err(FsError::NotFound);
        }
        Ok(self
            .marks
            .borrow()
            .get(path)
            .map(|marks| covering(marks, from, to))
            .unwrap_or_default())
    }

    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn watch(&self, _alloc_id: &str, path: &str) -> Result<(), FsError> {
        self.watches.borrow_mut().push(path.to_string());
        Ok(())
    }

    fn host_stats(&self) -> Option<HostStats> {
        None
    }

    fn roles(&self) -> Roles {
        *self.roles.borrow()
    }

    /// The last registration of `id`, live unless listed in `down`.
    fn node(&self, id: &str) -> Option<NodeInfo> {
        let registered = self.registered.borrow();
        let last = registered.iter().rev().find(|r| r.node.id == id)?;
        Some(NodeInfo {
            id: id.to_string(),
            name: last.node.name.clone(),
            datacenter: last.node.datacenter.clone(),
            http_addr: last.node.http_addr.clone(),
            ready: !self.down.borrow().contains(id),
            static_meta: last.node.static_meta.clone(),
            dynamic_meta: last.node.dynamic_meta.clone(),
            last_seen: Timestamp::default(),
            secret_sha256: last.secret_sha256.clone(),
        })
    }

    /// Every registered node, as [`Host::node`] sees it.
    fn nodes(&self) -> Vec<NodeInfo> {
        let ids: BTreeSet<String> = self
            .registered
            .borrow()
            .iter()
            .map(|r| r.node.id.clone())
            .collect();
        ids.iter().filter_map(|id| self.node(id)).collect()
    }

    /// The first registration that holds `id`.
    fn find_allocation(&self, id: &str) -> Option<PlacedAllocation> {
        let registered = self.registered.borrow();
        registered.iter().find_map(|r| {
            let allocation = r.allocations.iter().find(|a| a.id == id)?;
            Some(PlacedAllocation {
                node_id: r.node.id.clone(),
                allocation: allocation.clone(),
            })
        })
    }

    /// The allocations of each node's last registration.
    fn all_allocations(&self) -> Vec<PlacedAllocation> {
        let registered = self.registered.borrow();
        let mut last: BTreeMap<&str, &Registration> = BTreeMap::new();
        for r in registered.iter() {
            last.insert(&r.node.id, r);
        }
        last.values()
            .flat_map(|r| {
                r.allocations.iter().map(|a| PlacedAllocation {
                    node_id: r.node.id.clone(),
                    allocation: a.clone(),
                })
            })
            .collect()
    }

    fn register(&self, registration: Registration) -> Result<(), String> {
        self.registered.borrow_mut().push(registration);
        Ok(())
    }

    fn relay_open(&self, node_id: &str, target: &str, token: Option<&str>) -> Result<u32, String> {
        let mut relays = self.relays.borrow_mut();
        relays.push((node_id.into(), target.into(), token.map(Into::into)));
        Ok(relays.len() as u32 - 1)
    }

    fn relay_take(&self, id: u32) -> Arrived {
        let node = self.relays.borrow()[id as usize].0.clone();
        let mut script = self.relay_script.borrow_mut();
        let next = script.get_mut(&node).and_then(VecDeque::pop_front);
        next.unwrap_or(Arrived::Pending)
    }

    fn relay_close(&self, id: u32) {
        self.relays_closed.borrow_mut().push(id);
    }

    fn acl_enabled(&self) -> bool {
        *self.acl_enabled.borrow()
    }

    fn resolve_token(&self, secret_id: &str) -> Result<Token, ResolveError> {
        self.tokens
            .borrow()
            .get(secret_id)
            .cloned()
            .ok_or(ResolveError::NotFound)
    }

    fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        self.policies
            .borrow()
            .iter()
            .filter(|p| names.contains(&p.name))
            .cloned()
            .collect()
    }

    fn bootstrap(&self) -> Result<MintedToken, BootstrapError> {
        if self.tokens.borrow().values().any(|t| t.management) {
            return Err(BootstrapError::AlreadyDone);
        }
        let token = Token {
            accessor_id: "accessor-1".into(),
            name: "Bootstrap Token".into(),
            management: true,
            policies: Vec::new(),
            create_time: Timestamp {
                seconds: 1_700_000_000,
                nanoseconds: 0,
            },
            global: true,
            ..Token::default()
        };
        self.tokens
            .borrow_mut()
            .insert("secret-1".into(), token.clone());
        Ok(MintedToken {
            token,
            secret_id: "secret-1".into(),
        })
    }

    fn list_policies(&self) -> Vec<PolicyDocument> {
        self.policy_documents.borrow().clone()
    }

    fn put_policy(
        &self,
        mut policy: PolicyDocument,
        compiled: CompiledPolicy,
    ) -> Result<(), String> {
        let index = self.next_index();
        let mut documents = self.policy_documents.borrow_mut();
        policy.create_index = index;
        if let Some(old) = documents.iter().find(|p| p.name == policy.name) {
            policy.create_index = old.create_index;
        }
        policy.modify_index = index;
        documents.retain(|p| p.name != policy.name);
        documents.push(policy);
        let mut policies = self.policies.borrow_mut();
        policies.retain(|p| p.name != compiled.name);
        policies.push(compiled);
        Ok(())
    }

    fn delete_policy(&self, name: &str) -> Result<bool, String> {
        self.policies.borrow_mut().retain(|p| p.name != name);
        let mut documents = self.policy_documents.borrow_mut();
        let before = documents.len();
        documents.retain(|p| p.name != name);
        Ok(documents.len() != before)
    }

    fn list_tokens(&self) -> Vec<Token> {
        self.tokens.borrow().values().cloned().collect()
    }

    fn create_token(&self, mut token: Token) -> Result<MintedToken, String> {
        let index = self.next_index();
        token.accessor_id = format!("accessor-{index}");
        token.create_index = index;
        token.modify_index = index;
        let secret_id = format!("secret-{index}");
        self.tokens
            .borrow_mut()
            .insert(secret_id.clone(), token.clone());
        Ok(MintedToken { token, secret_id })
    }

    fn update_token(&self, mut token: Token) -> Result<Option<Token>, String> {
        let index = self.next_index();
        let mut tokens = self.tokens.borrow_mut();
        let Some(stored) = tokens
            .values_mut()
            .find(|t| t.accessor_id == token.accessor_id)
        else {
            return Ok(None);
        };
        token.create_time = stored.create_time;
        token.create_index = stored.create_index;
        token.modify_index = index;
        *stored = token.clone();
        Ok(Some(token))
    }

    fn delete_token(&self, accessor_id: &str) -> Result<bool, String> {
        let mut tokens = self.tokens.borrow_mut();
        let before = tokens.len();
        tokens.retain(|_, t| t.accessor_id != accessor_id);
        Ok(tokens.len() != before)
    }

    fn allocation_usage(&self, _alloc_id: &str) -> Vec<TaskUsage> {
        Vec::new()
    }
}
