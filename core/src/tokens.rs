//! The ACL token routes, in Nomad's `ACLToken` shape: `/v1/acl/token/self` (the caller's
//! own token), `/v1/acl/bootstrap` (the first management token), `/v1/acl/tokens` (the
//! list) and `/v1/acl/token[/:accessor]` (create, read, update, delete).
//!
//! The host mints ids and stores what is decided here; it keeps only a hash of each secret,
//! so a stored token's `SecretID` is shown once, when it is created (docs/acl.md).

use serde_json::{Map, Value, json};

use crate::acl::access::{self, Caller};
use crate::host::{BootstrapError, Host, LogLevel, Timestamp, Token};
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::wire::params::Query;

/// Nomad's default bounds for a token's expiration (`token_min_expiration_ttl`,
/// `token_max_expiration_ttl`).
const MIN_TTL: u64 = 60 * 1_000_000_000;
const MAX_TTL: u64 = 24 * 3600 * 1_000_000_000;
/// Nomad's longest token name.
const MAX_NAME: usize = 256;

/// A token in Nomad's `ACLToken` JSON (its `SecretID` only when the caller may see it:
/// on creation, or for the caller's own token).
pub fn token_json(token: &Token, secret: Option<&str>) -> Value {
    json!({
        "AccessorID": token.accessor_id,
        "CreateIndex": token.create_index,
        "CreateTime": token.create_time.rfc3339_nano(),
        "ExpirationTTL": match token.expiration_ttl {
            0 => String::new(),
            ttl => crate::wire::timefmt::go_duration(ttl),
        },
        "ExpirationTime": token.expiration_time.map(Timestamp::rfc3339_nano),
        "Global": token.global,
        "ModifyIndex": token.modify_index,
        "Name": token.name,
        "Policies": token.policies,
        "Roles": null,
        "SecretID": secret.unwrap_or(""),
        "Type": token_type(token),
    })
}

/// Nomad's `ACLTokenListStub`.
fn stub_json(token: &Token) -> Value {
    json!({
        "AccessorID": token.accessor_id,
        "CreateIndex": token.create_index,
        "CreateTime": token.create_time.rfc3339_nano(),
        "ExpirationTime": token.expiration_time.map(Timestamp::rfc3339_nano),
        "Global": token.global,
        "ModifyIndex": token.modify_index,
        "Name": token.name,
        "Policies": token.policies,
        "Roles": null,
        "Type": token_type(token),
    })
}

fn token_type(token: &Token) -> &'static str {
    if token.management {
        "management"
    } else {
        "client"
    }
}

/// The caller, once ACLs are known to be on (Nomad's `ACL support disabled` otherwise).
pub fn acl_caller(host: &impl Host, req: &Request) -> ApiResult<Caller> {
    if !host.acl_enabled() {
        return Err(ApiError::bad_request("ACL support disabled"));
    }
    access::caller(host, req)
}

/// Only a management token may.
pub fn require_management(caller: &Caller) -> ApiResult<()> {
    if caller.acl.is_management() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Permission denied"))
    }
}

/// `GET /v1/acl/token/self`: the caller's token.
pub fn token_self(host: &impl Host, req: &Request, query: &Query) -> ApiResult<Response> {
    if !host.acl_enabled() {
        return Err(ApiError::bad_request("ACL support disabled"));
    }
    let secret = crate::acl::request_token(|name| req.header(name))
        .ok_or_else(|| ApiError::forbidden(access::TOKEN_NOT_FOUND))?;
    let token = access::resolve(host, secret)?;
    Ok(Response::json(&token_json(&token, Some(secret)), query))
}

/// `GET /v1/acl/tokens`: every token, for a management token.
pub fn list(host: &impl Host, req: &Request, query: &Query) -> ApiResult<Response> {
    require_management(&acl_caller(host, req)?)?;
    let mut tokens = host.list_tokens();
    tokens.sort_by(|a, b| {
        a.create_index
            .cmp(&b.create_index)
            .then(a.accessor_id.cmp(&b.accessor_id))
    });
    let body: Vec<Value> = tokens.iter().map(stub_json).collect();
    Ok(Response::json(&Value::Array(body), query))
}

/// `PUT`/`POST /v1/acl/token`: create a token (or update one when the body names its
/// accessor, as Nomad's upsert).
pub fn create(host: &impl Host, req: &Request, query: &Query) -> ApiResult<Response> {
    upsert(host, req, query, "")
}

/// `/v1/acl/token/:accessor`: read (management, or the token itself), update, delete.
pub fn by_accessor(
    host: &impl Host,
    req: &Request,
    query: &Query,
    accessor: &str,
) -> ApiResult<Response> {
    if accessor.is_empty() {
        return Err(ApiError::bad_request("Missing Token Accessor"));
    }
    match req.method.as_str() {
        "GET" => {
            let caller = acl_caller(host, req)?;
            let own = caller
                .token
                .as_ref()
                .is_some_and(|t| t.accessor_id == accessor);
            if !own {
                require_management(&caller)?;
            }
            let token = host
                .list_tokens()
                .into_iter()
                .find(|t| t.accessor_id == accessor)
                .ok_or_else(|| ApiError::not_found("ACL token not found"))?;
            let secret = own
                .then(|| crate::acl::request_token(|name| req.header(name)))
                .flatten();
            Ok(Response::json(&token_json(&token, secret), query))
        }
        "PUT" | "POST" => upsert(host, req, query, accessor),
        "DELETE" => {
            require_management(&acl_caller(host, req)?)?;
            let existing = host
                .list_tokens()
                .into_iter()
                .find(|t| t.accessor_id == accessor);
            match existing {
                Some(token) if token.from_file => Err(from_file_error(accessor)),
                Some(_) if host.delete_token(accessor).map_err(host_fault(host))? => {
                    Ok(Response::empty())
                }
                _ => Err(ApiError::bad_request(format!(
                    "Cannot delete nonexistent tokens: {accessor}"
                ))),
            }
        }
        _ => Err(ApiError::invalid_method()),
    }
}

fn from_file_error(accessor: &str) -> ApiError {
    ApiError::bad_request(format!(
        "ACL token {accessor} is defined by a file in the agent's acl/tokens directory: \
         change or remove the file"
    ))
}

/// A write failed in the host: logged with its reason, 500 for the caller.
fn host_fault<H: Host>(host: &H) -> impl Fn(String) -> ApiError + '_ {
    move |why| {
        host.log(LogLevel::Error, &format!("ACL token write failed: {why}"));
        ApiError::internal("ACL token write failed")
    }
}

/// Create or update, as Nomad's `ACL.UpsertTokens` decides.
fn upsert(
    host: &impl Host,
    req: &Request,
    query: &Query,
    path_accessor: &str,
) -> ApiResult<Response> {
    let body = decode_body(&req.body)?;
    let accessor = text(&body, "AccessorID")?.unwrap_or_default();
    if !path_accessor.is_empty() && accessor != path_accessor {
        return Err(ApiError::bad_request(
            "ACL token accessor does not match request path",
        ));
    }
    require_management(&acl_caller(host, req)?)?;
    let mut token = Token {
        accessor_id: accessor.clone(),
        name: text(&body, "Name")?.unwrap_or_default(),
        management: false,
        policies: strings(&body, "Policies")?,
        global: field(&body, "Global")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Token::default()
    };
    let kind = text(&body, "Type")?.unwrap_or_default();
    token.management = kind == "management";
    let existing = if accessor.is_empty() {
        None
    } else {
        let found = host
            .list_tokens()
            .into_iter()
            .find(|t| t.accessor_id == accessor);
        let found =
            found.ok_or_else(|| ApiError::bad_request(format!("cannot find token {accessor}")))?;
        if found.from_file {
            return Err(from_file_error(&accessor));
        }
        Some(found)
    };
    let now = host.now();
    let mut errors = validate(&token, &kind, existing.as_ref());
    match &existing {
        None => {
            token.create_time = now;
            token.expiration_ttl = ttl(&body)?;
            token.expiration_time = expiration(&body)?;
            if token.expiration_ttl > 0 && token.expiration_time.is_none() {
                token.expiration_time = Some(add_nanos(now, token.expiration_ttl));
            }
            if let Some(at) = token.expiration_time {
                errors.extend(expiry_errors(now, at));
            }
        }
        Some(old) => {
            // Nomad: the expiration cannot change once set.
            token.expiration_time = old.expiration_time;
            token.expiration_ttl = old.expiration_ttl;
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::bad_request(format!(
            "token 0 invalid: {}",
            multierror(&errors)
        )));
    }
    let known: Vec<String> = host.list_policies().into_iter().map(|p| p.name).collect();
    if let Some(missing) = token.policies.iter().find(|p| !known.contains(p)) {
        return Err(ApiError::bad_request(format!(
            "token references non-existent policy {missing:?}"
        )));
    }
    if existing.is_some() {
        let updated = host
            .update_token(token)
            .map_err(host_fault(host))?
            .ok_or_else(|| ApiError::bad_request(format!("cannot find token {accessor}")))?;
        return Ok(Response::json(&token_json(&updated, None), query));
    }
    let minted = host.create_token(token).map_err(host_fault(host))?;
    Ok(Response::json(
        &token_json(&minted.token, Some(&minted.secret_id)),
        query,
    ))
}

/// Nomad's `ACLToken.Validate`, without the expiration checks.
fn validate(token: &Token, kind: &str, existing: Option<&Token>) -> Vec<String> {
    let mut errors = Vec::new();
    if token.name.len() > MAX_NAME {
        errors.push("token name too long".to_string());
    }
    match kind {
        "client" if token.policies.is_empty() => {
            errors.push("client token missing policies or roles".into())
        }
        "management" if !token.policies.is_empty() => {
            errors.push("management token cannot be associated with policies or roles".into())
        }
        "client" | "management" => {}
        _ => errors.push("token type must be client or management".into()),
    }
    if existing.is_some_and(|old| old.global != token.global) {
        errors.push("cannot toggle global value".into());
    }
    errors
}

fn expiry_errors(now: Timestamp, at: Timestamp) -> Vec<String> {
    let (now, at) = (now.unix_nanos(), at.unix_nanos());
    if at < now {
        return vec!["expiration time cannot be before create time".into()];
    }
    let within = (at - now) as u64;
    let show = crate::wire::timefmt::go_duration;
    if within > MAX_TTL {
        vec![format!(
            "expiration time cannot be more than {} in the future (was {})",
            show(MAX_TTL),
            show(within)
        )]
    } else if within < MIN_TTL {
        vec![format!(
            "expiration time cannot be less than {} in the future (was {})",
            show(MIN_TTL),
            show(within)
        )]
    } else {
        Vec::new()
    }
}

/// hashicorp/go-multierror's text, which Nomad's validation errors carry.
pub fn multierror(errors: &[String]) -> String {
    let plural = if errors.len() == 1 { "" } else { "s" };
    format!(
        "{} error{plural} occurred:\n\t* {}\n\n",
        errors.len(),
        errors.join("\n\t* ")
    )
}

fn add_nanos(at: Timestamp, nanos: u64) -> Timestamp {
    let total = at.nanoseconds as u64 + nanos;
    Timestamp {
        seconds: at.seconds.saturating_add((total / 1_000_000_000) as i64),
        nanoseconds: (total % 1_000_000_000) as u32,
    }
}

/// A JSON object body (Go's decoder matches field names case-insensitively).
pub fn decode_body(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "Failed to decode request body: {e}"
        ))),
    }
}

/// A field of a decoded body, its name matched as Go's decoder does.
pub fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).or_else(|| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A string field (`null` and absent are `None`).
pub fn text(body: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

fn strings(body: &Map<String, Value>, name: &str) -> ApiResult<Vec<String>> {
    let invalid = || ApiError::bad_request(format!("{name} must be a list of strings"));
    match field(body, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `ExpirationTTL`: Go's duration text (`"1h"`, as Nomad's JSON writes it) or nanoseconds.
fn ttl(body: &Map<String, Value>) -> ApiResult<u64> {
    let nanos = match field(body, "ExpirationTTL") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) if s.is_empty() => 0,
        Some(Value::String(s)) => {
            crate::fs::logtime::parse_duration(s).map_err(ApiError::bad_request)?
        }
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0) as i64,
        Some(_) => return Err(ApiError::bad_request("ExpirationTTL must be a duration")),
    };
    u64::try_from(nanos).map_err(|_| {
        ApiError::bad_request(format!(
            "token 0 invalid: {}",
            multierror(&[format!(
                "token expiration TTL '{}' should not be negative",
                crate::wire::timefmt::go_duration(nanos.unsigned_abs())
            )])
        ))
    })
}

/// `ExpirationTime`: RFC 3339, or absent.
fn expiration(body: &Map<String, Value>) -> ApiResult<Option<Timestamp>> {
    let Some(text) = text(body, "ExpirationTime")? else {
        return Ok(None);
    };
    let nanos = crate::wire::timefmt::parse_rfc3339(&text)
        .ok_or_else(|| ApiError::bad_request(format!("invalid ExpirationTime {text:?}")))?;
    Ok(Some(Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanoseconds: nanos.rem_euclid(1_000_000_000) as u32,
    }))
}

/// `POST /v1/internal/acl/resolve` (caravan's own, servers only): a client agent asks who
/// the secret in the body (`{"SecretID": ...}`) is, to serve a token its servers hold. The
/// call is authenticated like a heartbeat: the caller's own token needs `node` write (and,
/// under mutual TLS, a certificate for `client.global.nomad`). The answer is `{"Token":
/// <ACLToken without its secret>, "Policies": [{"Name", "Rules"}]}`, or `{"Token": null,
/// "Error": "ACL token not found" | "ACL token expired"}`; any other status means the call
/// itself failed, so the client keeps what it had.
pub fn resolve_for_client(
    host: &impl Host,
    access: &access::Access,
    req: &Request,
    query: &Query,
) -> ApiResult<Response> {
    if !host.roles().server {
        return Err(ApiError::not_found(""));
    }
    if req.method != "PUT" && req.method != "POST" {
        return Err(ApiError::invalid_method());
    }
    if !host.acl_enabled() {
        return Err(ApiError::bad_request("ACL support disabled"));
    }
    crate::cluster::register::require_client_certificate(req)?;
    access.node(host)?;
    let body = decode_body(&req.body)?;
    let secret = text(&body, "SecretID")?.unwrap_or_default();
    let answer = match host.resolve_token(&secret) {
        Ok(token) => {
            let policies: Vec<Value> = host
                .list_policies()
                .into_iter()
                .filter(|p| token.policies.contains(&p.name))
                .map(|p| json!({"Name": p.name, "Rules": p.rules}))
                .collect();
            json!({"Token": token_json(&token, None), "Policies": policies})
        }
        Err(crate::host::ResolveError::NotFound) => {
            json!({"Token": null, "Error": "ACL token not found"})
        }
        Err(crate::host::ResolveError::Expired) => {
            json!({"Token": null, "Error": "ACL token expired"})
        }
    };
    Ok(Response::json(&answer, query))
}

/// `PUT`/`POST /v1/acl/bootstrap`: mint the first management token (the host generates
/// and stores it) and show its secret, once. Nomad's texts for ACLs off and a second
/// bootstrap (a wrong method is refused by the route table).
pub fn bootstrap(host: &impl Host, query: &Query) -> ApiResult<Response> {
    if !host.acl_enabled() {
        return Err(ApiError::bad_request("ACL support disabled"));
    }
    let minted = host.bootstrap().map_err(|e| match e {
        BootstrapError::AlreadyDone => ApiError::bad_request("ACL bootstrap already done"),
        BootstrapError::Failed(why) => {
            host.log(LogLevel::Error, &format!("ACL bootstrap failed: {why}"));
            ApiError::internal("ACL bootstrap failed")
        }
    })?;
    let token = minted.token;
    let body = json!({
        "AccessorID": token.accessor_id,
        "CreateIndex": token.create_index,
        "CreateTime": token.create_time.rfc3339_nano(),
        "ExpirationTime": token.expiration_time.map(Timestamp::rfc3339_nano),
        "Global": true,
        "ModifyIndex": token.modify_index,
        "Name": token.name,
        // Nomad's bootstrap token has no policies: `null`, not `[]`.
        "Policies": (!token.policies.is_empty()).then_some(&token.policies),
        "Roles": null,
        "SecretID": minted.secret_id,
        "Type": token_type(&token),
    });
    Ok(Response::json(&body, query))
}

#[cfg(test)]
mod tests;
