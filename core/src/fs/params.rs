//! Query parameters that `fs/readat`, `fs/stream` and `fs/logs` share, with Nomad's
//! error texts.

use crate::http::{ApiError, ApiResult};
use crate::wire::params::{Query, parse_bool, parse_int};

/// A boolean parameter with Nomad's error text (Nomad answers 500 for `fs/stream`'s
/// `follow`; it is bad input, so 400 everywhere).
pub fn flag(query: &Query, name: &str, default: bool) -> ApiResult<bool> {
    match query.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(value) => parse_bool(value).map_err(|e| {
            ApiError::bad_request(format!("failed to parse {name} field to boolean: {e}"))
        }),
    }
}

/// A Go integer parameter, with Nomad's `error parsing <name>: <strconv error>`.
pub fn int_param(value: &str, name: &str) -> ApiResult<i64> {
    parse_int(value).map_err(|e| ApiError::bad_request(format!("error parsing {name}: {e}")))
}

/// `offset`: optional (0), a Go integer.
pub fn offset(query: &Query) -> ApiResult<i64> {
    match query.get("offset").filter(|o| !o.is_empty()) {
        None => Ok(0),
        Some(o) => int_param(o, "offset"),
    }
}

/// `origin`: `start` (the default) or `end`.
pub fn origin_is_end(query: &Query) -> ApiResult<bool> {
    match query.get("origin").filter(|o| !o.is_empty()) {
        None | Some("start") => Ok(false),
        Some("end") => Ok(true),
        Some(_) => Err(ApiError::bad_request("origin must be start or end")),
    }
}
