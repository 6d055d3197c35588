//! `acl` and `policy`: tokens and policies from files and from the ACL API (`store`, `api`);
//! policies are compiled by the core and cached here.

pub mod api;
pub mod backend;
pub mod etcd_acl;
pub mod remote;
mod store;

pub use store::{AclStore, StoredToken};
use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::wit::{acl, policy};

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

    fn bootstrap(&mut self) -> Result<acl::MintedToken, acl::BootstrapError> {
        match self.ctx.acl.bootstrap() {
            Ok(Some((token, secret_id))) => Ok(acl::MintedToken { token, secret_id }),
            Ok(None) => Err(acl::BootstrapError::AlreadyDone),
            Err(err) => Err(acl::BootstrapError::Failed(err)),
        }
    }

    fn list_policies(&mut self) -> Vec<acl::PolicyDocument> {
        self.ctx.acl.list_policies()
    }

    fn put_policy(
        &mut self,
        policy: acl::PolicyDocument,
        compiled: policy::CompiledPolicy,
    ) -> Result<(), String> {
        self.ctx.acl.put_policy(policy, compiled)
    }

    fn delete_policy(&mut self, name: String) -> Result<bool, String> {
        self.ctx.acl.delete_policy(&name)
    }

    fn list_tokens(&mut self) -> Vec<acl::Token> {
        self.ctx.acl.list_tokens()
    }

    fn create_token(&mut self, token: acl::Token) -> Result<acl::MintedToken, String> {
        let (token, secret_id) = self.ctx.acl.create_token(token)?;
        Ok(acl::MintedToken { token, secret_id })
    }

    fn update_token(&mut self, token: acl::Token) -> Result<Option<acl::Token>, String> {
        self.ctx.acl.update_token(token)
    }

    fn delete_token(&mut self, accessor_id: String) -> Result<bool, String> {
        self.ctx.acl.delete_token(&accessor_id)
    }
}

impl policy::Host for CoreState {}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    policy::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)?;
    acl::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
