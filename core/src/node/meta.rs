//! Node metadata: Nomad's key rules, apply-request decoding and the static/dynamic merge.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::acl::access::Access;
use crate::host::{DynamicMeta, Host, MetaOp};
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::wire::json::{field, go_type};
use crate::wire::params::{Query, go_quote};

/// A decoded `NodeMetaApplyRequest`.
#[derive(Debug, Default, PartialEq)]
pub struct ApplyRequest {
    /// The node the request names (`NodeID`).
    pub node_id: String,
    /// The keys to change (`Meta`); `None` when the body has none.
    pub meta: Option<DynamicMeta>,
}

/// Decode a POST body as Go's `encoding/json` would into `NodeMetaApplyRequest`:
/// field names case-insensitive, unknown fields ignored, any Content-Type.
pub fn decode_apply(body: &[u8]) -> ApiResult<ApplyRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Request body is empty"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            format!("invalid JSON: {e}")
        })
    })?;
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(ApplyRequest::default()),
        other => {
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go value of type structs.NodeMetaApplyRequest",
                go_type(&other)
            )));
        }
    };
    let node_id = match field(&object, "NodeID") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(id)) => id.clone(),
        Some(other) => return Err(field_type_error("NodeID", other, "string")),
    };
    let meta = match field(&object, "Meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(entries)) => Some(decode_meta(entries)?),
        Some(other) => return Err(field_type_error("Meta", other, "map[string]*string")),
    };
    Ok(ApplyRequest { node_id, meta })
}

fn decode_meta(entries: &Map<String, Value>) -> ApiResult<DynamicMeta> {
    entries
        .iter()
        .map(|(key, value)| match value {
            Value::Null => Ok((key.clone(), None)),
            Value::String(s) => Ok((key.clone(), Some(s.clone()))),
            other => Err(field_type_error("Meta", other, "string")),
        })
        .collect()
}

fn field_type_error(field: &str, value: &Value, go_type_name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "json: cannot unmarshal {} into Go struct field NodeMetaApplyRequest.{field} of type {go_type_name}",
        go_type(value)
    ))
}

/// Nomad's `NodeMetaApplyRequest.Validate`; keys are checked in sorted order so the
/// reported key is deterministic (Nomad's is random).
pub fn validate(meta: Option<&DynamicMeta>) -> ApiResult<&DynamicMeta> {
    let meta = match meta {
        Some(meta) if !meta.is_empty() => meta,
        _ => return Err(ApiError::bad_request("missing required Meta object")),
    };
    for key in meta.keys() {
        if key.is_empty() {
            return Err(ApiError::bad_request("metadata keys must not be empty"));
        }
        if !key.split('.').all(is_hcl_identifier) {
            return Err(ApiError::bad_request(format!(
                "{} is invalid; metadata keys must be valid dotted hcl identifiers",
                go_quote(key)
            )));
        }
    }
    Ok(meta)
}

/// `hclsyntax.ValidIdentifier`: `(ID_Start | '_') (ID_Continue | '-')*`.
fn is_hcl_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    match chars.next() {
        Some(first) if first == '_' || unicode_ident::is_xid_start(first) => {}
        _ => return false,
    }
    chars.all(|c| c == '-' || unicode_ident::is_xid_continue(c))
}

/// Nomad's merge rule: a `null` for a static key is kept as a tombstone that hides it;
/// a `null` for any other key just forgets that key.
pub fn plan(
    static_meta: &BTreeMap<String, String>,
    request: &DynamicMeta,
) -> Vec<(String, MetaOp)> {
    request
        .iter()
        .map(|(key, value)| {
            let op = match value {
                Some(value) => MetaOp::Set(value.clone()),
                None if static_meta.contains_key(key) => MetaOp::Tombstone,
                None => MetaOp::Remove,
            };
            (key.clone(), op)
        })
        .collect()
}

/// The node's effective `Meta`: static overlaid by dynamic, tombstones removing keys.
/// Borrowed, so an answer is written without copying either map.
pub fn merged<'a>(
    static_meta: &'a BTreeMap<String, String>,
    dynamic: &'a DynamicMeta,
) -> BTreeMap<&'a str, &'a str> {
    let mut meta: BTreeMap<&str, &str> = static_meta
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    for (key, value) in dynamic {
        match value {
            Some(value) => meta.insert(key, value),
            None => meta.remove(key.as_str()),
        };
    }
    meta
}

/// Dynamic metadata as Nomad shows it, in key order: tombstones for keys that are no longer
/// static are dropped (Nomad drops them when the agent starts).
pub fn visible_dynamic<'a>(
    static_meta: &BTreeMap<String, String>,
    dynamic: &'a DynamicMeta,
) -> Vec<(&'a str, Option<&'a str>)> {
    dynamic
        .iter()
        .filter(|(key, value)| value.is_some() || static_meta.contains_key(*key))
        .map(|(key, value)| (key.as_str(), value.as_deref()))
        .collect()
}

/// `GET /v1/client/metadata`.
pub fn read(host: &impl Host, access: &Access, query: &Query) -> ApiResult<Response> {
    access.node(host)?;
    let static_meta = host.static_meta();
    let dynamic = host.dynamic_meta();
    Ok(meta_response(&static_meta, &dynamic, query))
}

/// `POST /v1/client/metadata`: validate, then apply as one change set.
pub fn apply(
    host: &impl Host,
    access: &Access,
    req: &Request,
    query: &Query,
) -> ApiResult<Response> {
    let apply = decode_apply(&req.body)?;
    access.node(host)?;
    let changes = validate(apply.meta.as_ref())?;
    let static_meta = host.static_meta();
    let dynamic = host
        .apply_meta(plan(&static_meta, changes))
        .map_err(|e| ApiError::internal(format!("failed to store node metadata: {e}")))?;
    Ok(meta_response(&static_meta, &dynamic, query))
}

fn meta_response(
    static_meta: &BTreeMap<String, String>,
    dynamic: &DynamicMeta,
    query: &Query,
) -> Response {
    let statics = static_meta.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let body = crate::wire::json::string_maps_to_vec(
        &[
            ("Dynamic", visible_dynamic(static_meta, dynamic)),
            ("Meta", all_present(merged(static_meta, dynamic))),
            ("Static", all_present(statics)),
        ],
        crate::http::pretty(query),
    );
    Response::json_encoded(body)
}

/// Entries of a map without tombstones, in the form of one that may have them.
fn all_present<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, Option<&'a str>)> {
    entries.into_iter().map(|(k, v)| (k, Some(v))).collect()
}

#[cfg(test)]
mod tests;
