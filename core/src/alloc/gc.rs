//! Garbage collection of terminal allocations: `/v1/client/gc` and
//! `/v1/client/allocation/:id/gc`.

use crate::acl::access::Access;
use crate::host::{CollectError, Host, LogLevel};
use crate::http::{ApiError, ApiResult};

/// Nomad's one text for an allocation GC cannot take: gone, or not terminal.
const NOT_ELIGIBLE: &str = "No such allocation on client, or allocation not eligible for GC";

/// Collect one allocation, which must be terminal.
pub fn allocation(host: &impl Host, access: &Access, alloc_id: &str) -> ApiResult<()> {
    let allocation = access.allocation(host, alloc_id)?;
    if !allocation.client_status.is_terminal() {
        // Nomad says 500; nothing failed, the allocation is just still running.
        return Err(ApiError::bad_request(NOT_ELIGIBLE));
    }
    host.collect(alloc_id).map_err(collect_error)
}

/// Gone, or not terminal (a race with the check above; Nomad says 500, caravan 400 as
/// nothing failed). Only a host fault is 500.
fn collect_error(err: CollectError) -> ApiError {
    match err {
        CollectError::NotFound | CollectError::NotTerminal => ApiError::bad_request(NOT_ELIGIBLE),
        CollectError::Io(message) => ApiError::internal(message),
    }
}

/// Collect every terminal allocation; a failure is logged and the rest go on, as Nomad's
/// asynchronous collector would. One collected or restarted meanwhile is skipped quietly.
pub fn all(host: &impl Host) {
    for allocation in host.allocations() {
        if !allocation.client_status.is_terminal() {
            continue;
        }
        match host.collect(&allocation.id) {
            Ok(()) | Err(CollectError::NotFound | CollectError::NotTerminal) => {}
            Err(CollectError::Io(err)) => host.log(
                LogLevel::Error,
                &format!("failed to collect allocation {}: {err}", allocation.id),
            ),
        }
    }
}
