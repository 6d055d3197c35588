//! The daemon's log: `tracing` events, one line each on stderr with an RFC 3339 time, in
//! the style of Nomad's agent output. Libraries that log through the `log` crate (wasmtime,
//! cranelift, notify, mio, redb) are bridged in, so `RUST_LOG=wasmtime=debug` shows them.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use tracing_subscriber::EnvFilter;

/// Nomad's `log_level` values (any case).
pub const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// Nomad's default `log_level`.
pub const DEFAULT_LEVEL: &str = "INFO";

/// A `log_level` (`-log-level` or the config file's), checked; an error if it is not one of
/// Nomad's [`LEVELS`].
pub fn check_level(level: &str) -> Result<tracing::Level> {
    if LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level))
        && let Ok(parsed) = level.parse()
    {
        return Ok(parsed);
    }
    bail!(
        "invalid log level {level:?}: expected one of {}",
        LEVELS.join(", ")
    )
}

/// Install the process's subscriber (once; later calls do nothing): the filter comes from
/// `RUST_LOG` when it is set, else see [`default_filter`].
pub fn init(level: &str) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives,
        _ => default_filter(check_level(level)?),
    };
    let filter = EnvFilter::try_new(&filter)
        .map_err(|err| anyhow::anyhow!("invalid RUST_LOG {filter:?}: {err}"))?;
    // `try_init` also installs the `log` bridge (`tracing_log::LogTracer`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

/// caravan's own messages (the host's and the core's, all under `caravan`) at `level` and
/// above; the libraries' only from WARN up, whatever `level` says. Their INFO lines are
/// internal (notify reports each inotify watch it could not remove, once per watch at every
/// stop) and would be noise in a service's journal; `RUST_LOG` shows them when wanted.
fn default_filter(level: tracing::Level) -> String {
    let libraries = level.min(tracing::Level::WARN);
    format!("{libraries},caravan={level}")
}

#[cfg(test)]
mod tests;
