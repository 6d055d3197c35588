//! caravan's core: everything Nomad *specifies* about the Client HTTP API.
//!
//! The modules here are plain Rust, unit-tested natively. They reach the machine only
//! through the [`host::Host`] trait, which the wasm glue in `wasm/` implements with the
//! component's imports (and tests implement with an in-memory fake).
//!
//! Layers, from the top down (imports only point down, never across a layer's folders
//! back up):
//!
//! - `api`: one request in, one action out, wrapped in Nomad's CORS handling;
//! - `router`: the route table (every route's name, pattern, methods, CORS, ACL requirement,
//!   where it is answered) and the dispatch to its handler;
//! - the handlers, one folder per concept: `alloc` (lifecycle, exec, GC), `cluster`
//!   (forwarding, server views, registration), `fs` (files, logs, streams), `node`
//!   (metadata, stats), `tokens` and `policies` (the ACL API's routes), `ui` (the web UI's
//!   assets);
//! - `acl`: policies and capabilities, and the access check every handler makes;
//! - `host`, `http`: the vocabulary — the [`host::Host`] trait and its types; requests,
//!   responses, actions and errors;
//! - `wire`: Go's wire formats (JSON, parameters, times, file modes, sniffing, base64);
//! - `wasm` (wasm32 only): the component's bindings and allocator.

#![warn(missing_docs)]

pub mod api;
pub mod router;

pub mod alloc;
pub mod cluster;
pub mod fs;
pub mod node;
pub mod policies;
pub mod tokens;
pub mod ui;

pub mod acl;

pub mod host;
pub mod http;

pub mod wire;

#[cfg(target_arch = "wasm32")]
mod wasm;

/// The in-memory host of the unit tests; the fuzz targets (`core/fuzz/`) use it too.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use api::handle;

/// The core's version, reported by the host with every response.
pub const VERSION: &str = concat!("caravan-core/", env!("CARGO_PKG_VERSION"));
