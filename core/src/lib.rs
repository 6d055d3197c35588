//! caravan's core: everything Nomad *specifies* about the Client HTTP API.
//!
//! The modules here are plain Rust, unit-tested natively. They reach the machine only
//! through the [`host::Host`] trait, which the wasm glue in `bindings.rs` implements
//! with the component's imports (and tests implement with an in-memory fake).

pub mod access;
pub mod acl;
pub mod alloc;
pub mod api;
pub mod b64;
pub mod cluster;
pub mod exec;
pub mod filemode;
pub mod fs;
pub mod fs_params;
pub mod gc;
pub mod host;
pub mod http;
pub mod json;
pub mod lifecycle;
pub mod log_files;
pub mod logs;
pub mod logtime;
pub mod meta;
pub mod params;
pub mod register;
pub mod router;
pub mod sniff;
pub mod stats;
pub mod stream;
pub mod timefmt;
pub mod tokens;
pub mod ui;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
mod heap;

/// The in-memory host of the unit tests; the fuzz targets (`core/fuzz/`) use it too.
#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use api::handle;

/// The core's version, reported by the host with every response.
pub const VERSION: &str = concat!("caravan-core/", env!("CARGO_PKG_VERSION"));
