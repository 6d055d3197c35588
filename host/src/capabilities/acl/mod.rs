//! `acl` and `policy`: tokens and policies from files (`store`); policies are compiled by
//! the core and cached here.

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
            Ok(Some(stored)) => Ok(acl::MintedToken {
                token: stored.token(),
                secret_id: stored.secret_id,
            }),
            Ok(None) => Err(acl::BootstrapError::AlreadyDone),
            Err(err) => Err(acl::BootstrapError::Failed(format!("{err:#}"))),
        }
    }
}

impl policy::Host for CoreState {}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    policy::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)?;
    acl::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
