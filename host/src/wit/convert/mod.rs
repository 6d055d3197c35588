//! The host's side of the boundary's conversions: the WIT types to the core crate's plain
//! types and back, as `From` impls, for the natively linked core (`runtime/native.rs`). They
//! are the conversions the component's glue (`core/src/wasm/bindings.rs`) makes on the other
//! side, so both paths hand the core the same values.

use caravan_core::acl::{CompiledPolicy, Disposition, NamespaceRule};
use caravan_core::fs::stream::Step;
use caravan_core::host as core;
use caravan_core::http;

mod client;

use super::{acl, cluster, handler, log, node, policy, relay, types};

/// The one way the host makes a contract time: from a `SystemTime`, or from Unix nanoseconds
/// (the log index's marks).
impl From<std::time::SystemTime> for types::Timestamp {
    fn from(time: std::time::SystemTime) -> Self {
        let (seconds, nanoseconds) = crate::util::time::unix(time);
        types::Timestamp {
            seconds,
            nanoseconds,
        }
    }
}

impl types::Timestamp {
    /// From nanoseconds since the Unix epoch (negative before it).
    pub fn from_unix_nanos(nanos: i64) -> Self {
        types::Timestamp {
            seconds: nanos.div_euclid(1_000_000_000),
            nanoseconds: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }
}

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
impl From<&types::Request> for http::Request {
    fn from(request: &types::Request) -> Self {
        http::Request {
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
        acl::Token {
            accessor_id: t.accessor_id,
            name: t.name,
            token_type: if t.management {
                acl::TokenType::Management
            } else {
                acl::TokenType::Client
            },
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

impl From<acl::PolicyDocument> for core::PolicyDocument {
    fn from(p: acl::PolicyDocument) -> Self {
        core::PolicyDocument {
            name: p.name,
            description: p.description,
            rules: p.rules,
            create_index: p.create_index,
            modify_index: p.modify_index,
            from_file: p.from_file,
        }
    }
}

impl From<core::PolicyDocument> for acl::PolicyDocument {
    fn from(p: core::PolicyDocument) -> Self {
        acl::PolicyDocument {
            name: p.name,
            description: p.description,
            rules: p.rules,
            create_index: p.create_index,
            modify_index: p.modify_index,
            from_file: p.from_file,
        }
    }
}

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
