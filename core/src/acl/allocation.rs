//! Finding the allocation a request names, with Nomad's errors for ids that cannot exist.

use crate::host::{Allocation, Host};
use crate::http::{ApiError, ApiResult};
use crate::wire::params::go_quote;

/// The allocation with exactly this id (Nomad does no prefix matching on these endpoints).
pub fn lookup(host: &impl Host, id: &str) -> ApiResult<Allocation> {
    if let Some(alloc) = host.allocation(id) {
        return Ok(alloc);
    }
    if let Err(reason) = check_uuid(id) {
        // Nomad answers 500 here; a malformed id is the caller's mistake, so 400.
        return Err(ApiError::bad_request(format!(
            "alloc lookup failed: index error: {reason}"
        )));
    }
    Err(ApiError::not_found(format!(
        "Unknown allocation {}",
        go_quote(id)
    )))
}

/// go-memdb's UUID index checks, in its order and with its messages.
fn check_uuid(id: &str) -> Result<(), String> {
    if id.len() != 36 {
        return Err("UUID must be 36 characters".into());
    }
    let hyphens = id.matches('-').count();
    if hyphens > 4 {
        return Err(format!(
            "UUID should have maximum of 4 \"-\"; got {hyphens}"
        ));
    }
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if !hex.len().is_multiple_of(2) {
        return Err("Input (without hyphens) must be even length".into());
    }
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "Invalid UUID: encoding/hex: invalid byte: U+{:04X} {}",
            bad as u32,
            go_quote_rune(bad)
        ));
    }
    Ok(())
}

/// Go's `%q` of a rune: single-quoted.
fn go_quote_rune(c: char) -> String {
    let quoted = go_quote(&c.to_string());
    let inner = &quoted[1..quoted.len() - 1];
    let inner = if inner == "\\\"" {
        "\""
    } else if inner == "'" {
        "\\'"
    } else {
        inner
    };
    format!("'{inner}'")
}

#[cfg(test)]
mod tests;
