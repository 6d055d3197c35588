//! `relay`: the in-memory host reads no other node.

use super::*;

/// The in-memory host has no other nodes to read: a vector's server knows only
/// registrations, so a relay cannot start (as a node that left).
impl relay::Host for MemHost {
    fn open(
        &mut self,
        _node_id: String,
        _target: String,
        _token: Option<String>,
    ) -> Result<u32, String> {
        Err("no such node".into())
    }

    fn take(&mut self, _id: u32) -> relay::Arrived {
        relay::Arrived::Failed("no such relay".into())
    }

    fn close(&mut self, _id: u32) {}
}
