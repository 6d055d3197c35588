//! `log`: the core's messages (including its panic hook's) in the daemon's log.

use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::wit::{log, types};

/// The target the core's messages are logged under (`RUST_LOG=caravan::core=debug`).
pub const CORE_TARGET: &str = "caravan::core";

impl types::Host for CoreState {}

impl log::Host for CoreState {
    fn write(&mut self, level: log::Level, message: String) {
        match level {
            log::Level::Debug => tracing::debug!(target: CORE_TARGET, "{message}"),
            log::Level::Info => tracing::info!(target: CORE_TARGET, "{message}"),
            log::Level::Warn => tracing::warn!(target: CORE_TARGET, "{message}"),
            log::Level::Error => tracing::error!(target: CORE_TARGET, "{message}"),
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    types::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)?;
    log::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
