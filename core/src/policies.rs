//! The ACL policy routes: `/v1/acl/policies` (the list) and `/v1/acl/policy/:name` (read,
//! create or replace, delete), in Nomad's `ACLPolicy` shapes. The policy is compiled here
//! (refused with Nomad's texts when it does not parse); the host stores it.

use serde_json::{Value, json};

use crate::host::{Host, LogLevel, PolicyDocument};
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::tokens::{acl_caller, decode_body, multierror, require_management, text};
use crate::wire::params::Query;

/// Nomad's longest policy description.
const MAX_DESCRIPTION: usize = 256;

/// `GET /v1/acl/policies`: every policy for a management token; the caller's own
/// otherwise (an anonymous caller's: `anonymous`), as Nomad's `ACL.ListPolicies`.
pub fn list(host: &impl Host, req: &Request, query: &Query) -> ApiResult<Response> {
    let caller = acl_caller(host, req)?;
    let mine = caller.policy_names();
    let mut policies = host.list_policies();
    policies.retain(|p| caller.acl.is_management() || mine.contains(&p.name));
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let body: Vec<Value> = policies
        .iter()
        .map(|p| {
            json!({
                "CreateIndex": p.create_index,
                "Description": p.description,
                "JobACL": null,
                "ModifyIndex": p.modify_index,
                "Name": p.name,
            })
        })
        .collect();
    Ok(Response::json(&Value::Array(body), query))
}

/// `/v1/acl/policy/:name`: read (management, or a caller holding the policy), create or
/// replace, delete (management).
pub fn by_name(host: &impl Host, req: &Request, query: &Query, name: &str) -> ApiResult<Response> {
    if name.is_empty() {
        return Err(ApiError::bad_request("Missing Policy Name"));
    }
    match req.method.as_str() {
        "GET" => {
            let caller = acl_caller(host, req)?;
            if !caller.acl.is_management() && !caller.policy_names().iter().any(|p| p == name) {
                return Err(ApiError::forbidden("Permission denied"));
            }
            let policy =
                find(host, name).ok_or_else(|| ApiError::not_found("ACL policy not found"))?;
            Ok(Response::json(
                &json!({
                    "CreateIndex": policy.create_index,
                    "Description": policy.description,
                    "JobACL": null,
                    "ModifyIndex": policy.modify_index,
                    "Name": policy.name,
                    "Rules": policy.rules,
                }),
                query,
            ))
        }
        "PUT" | "POST" => put(host, req, name),
        "DELETE" => {
            require_management(&acl_caller(host, req)?)?;
            if find(host, name).is_some_and(|p| p.from_file) {
                return Err(from_file_error(name));
            }
            host.delete_policy(name).map_err(host_fault(host))?;
            Ok(Response::empty())
        }
        _ => Err(ApiError::invalid_method()),
    }
}

fn find(host: &impl Host, name: &str) -> Option<PolicyDocument> {
    host.list_policies().into_iter().find(|p| p.name == name)
}

fn put(host: &impl Host, req: &Request, name: &str) -> ApiResult<Response> {
    let body = decode_body(&req.body)?;
    let policy = PolicyDocument {
        name: text(&body, "Name")?.unwrap_or_default(),
        description: text(&body, "Description")?.unwrap_or_default(),
        rules: text(&body, "Rules")?.unwrap_or_default(),
        ..PolicyDocument::default()
    };
    if policy.name != name {
        return Err(ApiError::bad_request(
            "ACL policy name does not match request path",
        ));
    }
    require_management(&acl_caller(host, req)?)?;
    let mut errors = Vec::new();
    if !valid_name(name) {
        errors.push(format!("invalid name '{name}'"));
    }
    if policy.description.len() > MAX_DESCRIPTION {
        errors.push(format!("description longer than {MAX_DESCRIPTION}"));
    }
    let compiled = crate::acl::compile(name, &policy.rules);
    if let Err(why) = &compiled {
        errors.push(format!("failed to parse rules: {why}"));
    }
    let compiled = match compiled {
        Ok(compiled) if errors.is_empty() => compiled,
        _ => {
            return Err(ApiError::bad_request(format!(
                "policy 0 invalid: {}",
                multierror(&errors)
            )));
        }
    };
    if find(host, name).is_some_and(|p| p.from_file) {
        return Err(from_file_error(name));
    }
    host.put_policy(policy, compiled)
        .map_err(host_fault(host))?;
    Ok(Response::empty())
}

/// Nomad's `^[a-zA-Z0-9-]{1,128}$`.
fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn from_file_error(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "ACL policy {name:?} is defined by a file in the agent's acl/policies directory: \
         change or remove the file"
    ))
}

fn host_fault<H: Host>(host: &H) -> impl Fn(String) -> ApiError + '_ {
    move |why| {
        host.log(LogLevel::Error, &format!("ACL policy write failed: {why}"));
        ApiError::internal("ACL policy write failed")
    }
}
