//! caravan's native host: the daemon around the wasm core.
//!
//! The core decides; this crate moves bytes. Rooms, from the top down (arrows only point
//! down):
//!
//! - `cli`: the `caravan` command line (flags, `core check|swap`, `acl bootstrap`);
//! - `agent`: configuration and wiring of one running agent;
//! - `http`: hyper — the server, carrying out what the core decided, forwarding;
//! - `runtime`: wasmtime — the engine, the checks a core passes, hot swap, the compiled
//!   cache, and the natively linked baseline core;
//! - `capabilities`: the WIT interfaces the core imports, one module each;
//! - `registry`: server mode's registry of client nodes (in memory, or shared through etcd);
//! - `allocs`: allocations and their tasks (processes, logs, usage, GC);
//! - `store`: the client's persistent state (redb);
//! - `http_client`: the one outgoing HTTP client (plain or TLS) of the CLI, the heartbeat,
//!   forwarding and token resolution: below every room that calls another agent;
//! - `util`: small helpers (durations, times, atomic writes, file watching, logging);
//! - `wit`: the WIT contract's generated bindings, and their `From` conversions to and
//!   from the core crate's types;
//! - `metrics`: the one metrics registry every room records into (beside `util`: it
//!   imports nothing from the crate).

#![warn(missing_docs)]

pub mod metrics;
pub mod util;
pub mod wit;

pub mod agent;
pub mod allocs;
pub mod capabilities;
pub mod cli;
pub mod http;
pub mod http_client;
pub mod registry;
pub mod runtime;
pub mod store;
