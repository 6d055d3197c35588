//! `log`: the core's messages (including its panic hook's) in the daemon's log.

use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use super::bindings::{log, types};
use crate::util::logging::{self, Level};

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

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    types::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)?;
    log::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
