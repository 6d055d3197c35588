//! caravan's native host: the daemon around the wasm core.
//!
//! The core decides; this crate moves bytes. Each capability the core imports is a plain
//! module (`alloc_fs`, `allocs`, `state`, `stats`) with `capabilities` implementing the
//! generated WIT traits over them; `runtime` owns wasmtime (and the checks a core passes
//! before a hot swap), `swap` and `core_cache` serve swaps, and `server` owns hyper.

#[macro_use]
pub mod logging;

pub mod acl_store;
pub mod agent;
pub mod alloc_fs;
pub mod allocs;
pub mod api_client;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod core_cache;
pub mod core_cmd;
pub mod dirwatch;
pub mod duration;
pub mod follow;
pub mod fsutil;
pub mod native_core;
pub mod runtime;
pub mod server;
pub mod state;
pub mod stats;
pub mod swap;

// Compatibility: these moved under `allocs`; the old paths stay until their users switch.
pub use allocs::{gc, logmon, procstats, tasks};
