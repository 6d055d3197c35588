//! The wasm glue: the component's imports as a [`Host`], and its one export.
//!
//! Only calls live here (the conversions are `From` impls in `convert.rs`); every decision is
//! made in the plain modules.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{self as core_host, Host};
use crate::http;

wit_bindgen::generate!({
    world: "core",
    path: "../wit",
});

use caravan::client::{
    acl, allocations, cluster, filesystem, follow, log, node, policy, relay, stats,
};
use exports::caravan::client::handler;

struct Component;

export!(Component);

impl handler::Guest for Component {
    type BodyStream = BodyStream;

    fn handle(req: handler::Request) -> handler::Action {
        install_panic_hook();
        match crate::handle(&Imports, &req.into()) {
            http::Action::Respond(r) => handler::Action::Respond(r.into()),
            http::Action::SendFile(s) => handler::Action::SendFile(s.into()),
            http::Action::Stream(s) => handler::Action::Stream(handler::StreamStart {
                status: s.status,
                headers: s.headers.into_iter().map(Into::into).collect(),
                body: handler::BodyStream::new(BodyStream(RefCell::new(s.body))),
            }),
            http::Action::Forward(to) => handler::Action::Forward(to.into()),
            http::Action::Exec(e) => handler::Action::Exec(e.into()),
        }
    }

    fn version() -> String {
        crate::VERSION.to_string()
    }

    fn compile_policy(name: String, text: String) -> Result<policy::CompiledPolicy, String> {
        install_panic_hook();
        crate::acl::compile(&name, &text).map(Into::into)
    }
}

/// A streamed body: the core's state machine behind the exported resource.
struct BodyStream(RefCell<crate::fs::stream::Stream<follow::Subscription, filesystem::Listing>>);

impl handler::GuestBodyStream for BodyStream {
    fn next(&self, now_ms: u64) -> handler::Step {
        self.0.borrow_mut().next(&Imports, now_ms).into()
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

/// The component's imports, seen through the core's [`Host`] trait.
struct Imports;

impl Host for Imports {
    type Watch = follow::Subscription;
    type Listing = filesystem::Listing;

    fn log(&self, level: core_host::LogLevel, message: &str) {
        log::write(level.into(), message);
    }

    fn node_id(&self) -> String {
        node::node_id()
    }

    fn static_meta(&self) -> BTreeMap<String, String> {
        node::static_meta().into_iter().map(Into::into).collect()
    }

    fn dynamic_meta(&self) -> core_host::DynamicMeta {
        node::dynamic_meta().into_iter().map(Into::into).collect()
    }

    fn apply_meta(
        &self,
        changes: Vec<(String, core_host::MetaOp)>,
    ) -> Result<core_host::DynamicMeta, String> {
        let changes: Vec<node::MetaChange> = changes.into_iter().map(Into::into).collect();
        node::apply_meta(&changes).map(|entries| entries.into_iter().map(Into::into).collect())
    }

    fn allocation(&self, id: &str) -> Option<core_host::Allocation> {
        allocations::get(id).map(Into::into)
    }

    fn allocations(&self) -> Vec<core_host::Allocation> {
        allocations::list().into_iter().map(Into::into).collect()
    }

    fn collect(&self, id: &str) -> Result<(), core_host::CollectError> {
        allocations::collect(id).map_err(Into::into)
    }

    fn restart(&self, alloc_id: &str, task: Option<&str>) -> Result<(), core_host::LifecycleError> {
        allocations::restart(alloc_id, task).map_err(Into::into)
    }

    fn signal(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), core_host::LifecycleError> {
        allocations::signal(alloc_id, task, signal).map_err(Into::into)
    }

    fn stat(&self, alloc_id: &str, path: &str) -> Result<core_host::FileInfo, core_host::FsError> {
        filesystem::stat(alloc_id, path)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn list(&self, alloc_id: &str, path: &str) -> Result<filesystem::Listing, core_host::FsError> {
        filesystem::list(alloc_id, path).map_err(Into::into)
    }

    fn list_next(
        &self,
        listing: &filesystem::Listing,
        max: u32,
    ) -> Result<Vec<core_host::FileInfo>, core_host::FsError> {
        listing
            .next(max)
            .map(|infos| infos.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn read_at(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, core_host::FsError> {
        filesystem::read_at(alloc_id, path, offset, length).map_err(Into::into)
    }

    fn log_marks(
        &self,
        alloc_id: &str,
        path: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<core_host::LogMark>, core_host::FsError> {
        let marks =
            filesystem::log_marks(alloc_id, path, from, to).map_err(core_host::FsError::from)?;
        Ok(marks.into_iter().map(Into::into).collect())
    }

    fn now(&self) -> core_host::Timestamp {
        filesystem::now().into()
    }

    fn watch(
        &self,
        alloc_id: &str,
        path: &str,
    ) -> Result<follow::Subscription, core_host::FsError> {
        follow::watch(alloc_id, path).map_err(Into::into)
    }

    fn roles(&self) -> core_host::Roles {
        cluster::roles().into()
    }

    fn node(&self, id: &str) -> Option<core_host::NodeInfo> {
        cluster::node(id).map(Into::into)
    }

    fn nodes(&self) -> Vec<core_host::NodeInfo> {
        cluster::nodes().into_iter().map(Into::into).collect()
    }

    fn find_allocation(&self, id: &str) -> Option<core_host::PlacedAllocation> {
        cluster::find_allocation(id).map(Into::into)
    }

    fn all_allocations(&self) -> Vec<core_host::PlacedAllocation> {
        cluster::all_allocations()
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn register(&self, registration: core_host::Registration) -> Result<(), String> {
        cluster::register(&registration.into())
    }

    fn relay_open(&self, node_id: &str, target: &str, token: Option<&str>) -> Result<u32, String> {
        relay::open(node_id, target, token)
    }

    fn relay_take(&self, id: u32) -> core_host::Arrived {
        relay::take(id).into()
    }

    fn relay_close(&self, id: u32) {
        relay::close(id);
    }

    fn acl_enabled(&self) -> bool {
        acl::enabled()
    }

    fn resolve_token(&self, secret_id: &str) -> Result<core_host::Token, core_host::ResolveError> {
        acl::resolve_token(secret_id)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn bootstrap(&self) -> Result<core_host::MintedToken, core_host::BootstrapError> {
        acl::bootstrap().map(Into::into).map_err(Into::into)
    }

    fn policies(&self, names: &[String]) -> Vec<core_host::CompiledPolicy> {
        acl::policies(names).into_iter().map(Into::into).collect()
    }

    fn list_policies(&self) -> Vec<core_host::PolicyDocument> {
        acl::list_policies().into_iter().map(Into::into).collect()
    }

    fn put_policy(
        &self,
        policy: core_host::PolicyDocument,
        compiled: core_host::CompiledPolicy,
    ) -> Result<(), String> {
        acl::put_policy(&policy.into(), &compiled.into())
    }

    fn delete_policy(&self, name: &str) -> Result<bool, String> {
        acl::delete_policy(name)
    }

    fn list_tokens(&self) -> Vec<core_host::Token> {
        acl::list_tokens().into_iter().map(Into::into).collect()
    }

    fn create_token(&self, token: core_host::Token) -> Result<core_host::MintedToken, String> {
        acl::create_token(&token.into()).map(Into::into)
    }

    fn update_token(&self, token: core_host::Token) -> Result<Option<core_host::Token>, String> {
        acl::update_token(&token.into()).map(|t| t.map(Into::into))
    }

    fn delete_token(&self, accessor_id: &str) -> Result<bool, String> {
        acl::delete_token(accessor_id)
    }

    fn host_stats(&self) -> Option<core_host::HostStats> {
        stats::host().map(Into::into)
    }

    fn allocation_usage(&self, alloc_id: &str) -> Vec<core_host::TaskUsage> {
        stats::allocation(alloc_id)
            .into_iter()
            .map(Into::into)
            .collect()
    }
}
