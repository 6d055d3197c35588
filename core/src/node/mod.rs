//! This client node: its metadata (`/v1/client/metadata`) and resource usage, the host's
//! (`/v1/client/stats`) and each allocation's (`allocation/:id/stats`).

pub mod meta;
pub mod stats;
