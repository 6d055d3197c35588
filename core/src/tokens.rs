//! The ACL token routes: `/v1/acl/token/self` (the caller's own token) and
//! `/v1/acl/bootstrap` (the first management token), both in Nomad's `ACLToken` shape.

use serde_json::json;

use crate::acl::access;
use crate::host::{BootstrapError, Host, LogLevel, Timestamp};
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::wire::params::Query;

/// `GET /v1/acl/token/self`: the caller's token.
pub fn token_self(host: &impl Host, req: &Request, query: &Query) -> ApiResult<Response> {
    if !host.acl_enabled() {
        return Err(ApiError::bad_request("ACL support disabled"));
    }
    let secret = crate::acl::request_token(|name| req.header(name))
        .ok_or_else(|| ApiError::forbidden(access::TOKEN_NOT_FOUND))?;
    let token = access::resolve(host, secret)?;
    let body = json!({
        "AccessorID": token.accessor_id,
        "CreateIndex": 0,
        "CreateTime": token.create_time.rfc3339_nano(),
        "ExpirationTTL": 0,
        "ExpirationTime": token.expiration_time.map(Timestamp::rfc3339_nano),
        "Global": false,
        "ModifyIndex": 0,
        "Name": token.name,
        "Policies": token.policies,
        "Roles": null,
        "SecretID": secret,
        "Type": if token.management { "management" } else { "client" },
    });
    Ok(Response::json(&body, query))
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
        "CreateIndex": 0,
        "CreateTime": token.create_time.rfc3339_nano(),
        "ExpirationTime": token.expiration_time.map(Timestamp::rfc3339_nano),
        "Global": true,
        "ModifyIndex": 0,
        "Name": token.name,
        // Nomad's bootstrap token has no policies: `null`, not `[]`.
        "Policies": (!token.policies.is_empty()).then_some(token.policies),
        "Roles": null,
        "SecretID": minted.secret_id,
        "Type": if token.management { "management" } else { "client" },
    });
    Ok(Response::json(&body, query))
}

#[cfg(test)]
mod tests {
    use crate::fake::Fake;
    use crate::http::{Action, Request, Response};

    fn bootstrap(host: &Fake, method: &str) -> Response {
        let req = Request {
            method: method.into(),
            path: "/v1/acl/bootstrap".into(),
            headers: vec![("origin".into(), "http://ui".into())],
            ..Request::default()
        };
        match crate::handle(host, &req) {
            Action::Respond(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn text(r: &Response) -> (u16, &str) {
        (r.status, std::str::from_utf8(&r.body).unwrap())
    }

    #[test]
    fn bootstrap_answers_as_nomad_once() {
        let host = Fake::default();
        assert_eq!(
            text(&bootstrap(&host, "POST")),
            (400, "ACL support disabled")
        );
        *host.acl_enabled.borrow_mut() = true;
        assert_eq!(text(&bootstrap(&host, "GET")), (405, "Invalid method"));
        let r = bootstrap(&host, "PUT");
        assert_eq!(
            text(&r),
            (
                200,
                r#"{"AccessorID":"accessor-1","CreateIndex":0,"CreateTime":"2023-11-14T22:13:20Z","ExpirationTime":null,"Global":true,"ModifyIndex":0,"Name":"Bootstrap Token","Policies":null,"Roles":null,"SecretID":"secret-1","Type":"management"}"#
            )
        );
        assert_eq!(
            r.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())],
            "no CORS, as before"
        );
        assert_eq!(
            text(&bootstrap(&host, "POST")),
            (400, "ACL bootstrap already done")
        );
    }
}
