//! caravan's native host: the daemon around the wasm core.
//!
//! The core decides; this crate moves bytes. Each capability the core imports is a plain
//! module (`alloc_fs`, `allocs`, `state`, `stats`) with `capabilities` implementing the
//! generated WIT traits over them; `runtime` owns wasmtime and `server` owns hyper.

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
pub mod config;
pub mod follow;
pub mod fsutil;
pub mod native_core;
pub mod runtime;
pub mod server;
pub mod state;
pub mod stats;
