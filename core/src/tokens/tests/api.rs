//! The ACL API's token and policy routes against the in-memory host.

use serde_json::Value;

use crate::fake::Fake;
use crate::host::Token;
use crate::http::{ApiResult, Request, Response};
use crate::wire::params::Query;

const MANAGEMENT: &str = "secret-management";

fn host() -> Fake {
    let host = Fake::default();
    *host.acl_enabled.borrow_mut() = true;
    host.tokens.borrow_mut().insert(
        MANAGEMENT.into(),
        Token {
            accessor_id: "root".into(),
            management: true,
            ..Token::default()
        },
    );
    host
}

fn request(method: &str, token: Option<&str>, body: &str) -> Request {
    Request {
        method: method.into(),
        headers: token
            .map(|t| ("x-nomad-token".to_string(), t.to_string()))
            .into_iter()
            .collect(),
        body: body.as_bytes().to_vec(),
        ..Request::default()
    }
}

fn status(result: ApiResult<Response>) -> (u16, String) {
    match result {
        Ok(r) => (r.status, String::from_utf8(r.body).unwrap()),
        Err(e) => (e.status, e.message),
    }
}

fn json(result: ApiResult<Response>) -> Value {
    let (code, body) = status(result);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn put_policy(host: &Fake, token: Option<&str>, name: &str, rules: &str) -> (u16, String) {
    let body = serde_json::json!({"Name": name, "Description": "d", "Rules": rules}).to_string();
    status(crate::policies::by_name(
        host,
        &request("POST", token, &body),
        &Query::default(),
        name,
    ))
}

fn create_token(host: &Fake, token: Option<&str>, body: &str) -> (u16, String) {
    status(crate::tokens::create(
        host,
        &request("POST", token, body),
        &Query::default(),
    ))
}

#[test]
fn acl_routes_need_acls_and_a_management_token_to_write() {
    let off = Fake::default();
    assert_eq!(
        status(crate::tokens::list(
            &off,
            &request("GET", None, ""),
            &Query::default()
        )),
        (400, "ACL support disabled".into())
    );
    let host = host();
    let denied = (403, "Permission denied".to_string());
    assert_eq!(
        put_policy(&host, None, "ops", "node { policy = \"read\" }"),
        denied
    );
    assert_eq!(
        create_token(&host, None, r#"{"Type":"client","Policies":["ops"]}"#),
        denied
    );
    assert_eq!(
        status(crate::tokens::list(
            &host,
            &request("GET", None, ""),
            &Query::default()
        )),
        denied
    );
    assert_eq!(
        put_policy(&host, Some("nope"), "ops", "node { policy = \"read\" }"),
        (403, "ACL token not found".into())
    );
    assert_eq!(
        put_policy(&host, Some(MANAGEMENT), "ops", "node { policy = \"read\" }"),
        (200, String::new())
    );
    let minted = json(crate::tokens::create(
        &host,
        &request(
            "POST",
            Some(MANAGEMENT),
            r#"{"Name":"ops","Type":"client","Policies":["ops"],"ExpirationTTL":"2h"}"#,
        ),
        &Query::default(),
    ));
    let secret = minted["SecretID"].as_str().unwrap().to_string();
    assert_eq!(minted["Policies"], serde_json::json!(["ops"]));
    assert_eq!(minted["ExpirationTTL"], "2h0m0s");
    assert!(minted["ExpirationTime"].is_string());
    // A client token writes nothing either.
    assert_eq!(
        put_policy(&host, Some(&secret), "x", "node { policy = \"write\" }"),
        denied
    );
    assert_eq!(
        create_token(&host, Some(&secret), r#"{"Type":"management"}"#),
        denied
    );
    // It reads its own policy and itself, not others.
    let q = Query::default();
    let list = json(crate::policies::list(
        &host,
        &request("GET", Some(&secret), ""),
        &q,
    ));
    assert_eq!(list.as_array().unwrap().len(), 1);
    let own = crate::policies::by_name(&host, &request("GET", Some(&secret), ""), &q, "ops");
    assert_eq!(json(own)["Rules"], "node { policy = \"read\" }");
    let accessor = minted["AccessorID"].as_str().unwrap();
    let me = json(crate::tokens::by_accessor(
        &host,
        &request("GET", Some(&secret), ""),
        &q,
        accessor,
    ));
    assert_eq!(me["SecretID"], secret.as_str());
    assert_eq!(
        status(crate::tokens::by_accessor(
            &host,
            &request("GET", Some(&secret), ""),
            &q,
            "root"
        )),
        denied
    );
    // Management sees it without its secret.
    let seen = json(crate::tokens::by_accessor(
        &host,
        &request("GET", Some(MANAGEMENT), ""),
        &q,
        accessor,
    ));
    assert_eq!(seen["SecretID"], "");
    assert_eq!(seen["Name"], "ops");
}

#[test]
fn tokens_are_validated_updated_and_deleted_as_nomad() {
    let host = host();
    let q = Query::default();
    assert_eq!(
        create_token(&host, Some(MANAGEMENT), r#"{"Type":"client"}"#),
        (
            400,
            "token 0 invalid: 1 error occurred:\n\t* client token missing policies or roles\n\n"
                .into()
        )
    );
    assert_eq!(
        create_token(
            &host,
            Some(MANAGEMENT),
            r#"{"Type":"client","Policies":["nope"]}"#
        ),
        (400, "token references non-existent policy \"nope\"".into())
    );
    assert_eq!(
        create_token(
            &host,
            Some(MANAGEMENT),
            r#"{"Type":"client","Policies":["x"],"ExpirationTTL":"5s"}"#
        )
        .0,
        400
    );
    assert_eq!(
        put_policy(&host, Some(MANAGEMENT), "ops", "node { policy = \"read\" }").0,
        200
    );
    assert_eq!(
        put_policy(
            &host,
            Some(MANAGEMENT),
            "bad name",
            "node { policy = \"read\" }"
        ),
        (
            400,
            "policy 0 invalid: 1 error occurred:\n\t* invalid name 'bad name'\n\n".into()
        )
    );
    let (code, text) = put_policy(&host, Some(MANAGEMENT), "broken", "node { policy = ");
    assert_eq!(code, 400);
    assert!(
        text.starts_with("policy 0 invalid: 1 error occurred:\n\t* failed to parse rules: "),
        "{text}"
    );
    let created = json(crate::tokens::create(
        &host,
        &request(
            "PUT",
            Some(MANAGEMENT),
            r#"{"Name":"a","Type":"client","Policies":["ops"]}"#,
        ),
        &q,
    ));
    let accessor = created["AccessorID"].as_str().unwrap();
    let path_mismatch = crate::tokens::by_accessor(
        &host,
        &request(
            "POST",
            Some(MANAGEMENT),
            r#"{"AccessorID":"other","Type":"client","Policies":["ops"]}"#,
        ),
        &q,
        accessor,
    );
    assert_eq!(
        status(path_mismatch),
        (400, "ACL token accessor does not match request path".into())
    );
    let body =
        format!(r#"{{"AccessorID":"{accessor}","Name":"b","Type":"client","Policies":["ops"]}}"#);
    let updated = json(crate::tokens::by_accessor(
        &host,
        &request("POST", Some(MANAGEMENT), &body),
        &q,
        accessor,
    ));
    assert_eq!(updated["Name"], "b");
    assert_eq!(updated["CreateIndex"], created["CreateIndex"]);
    assert_ne!(updated["ModifyIndex"], created["ModifyIndex"]);
    let listed = json(crate::tokens::list(
        &host,
        &request("GET", Some(MANAGEMENT), ""),
        &q,
    ));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["Name"] == "b" && t.get("SecretID").is_none())
    );
    let delete = || {
        crate::tokens::by_accessor(
            &host,
            &request("DELETE", Some(MANAGEMENT), ""),
            &q,
            accessor,
        )
    };
    assert_eq!(status(delete()), (200, String::new()));
    assert_eq!(
        status(delete()),
        (400, format!("Cannot delete nonexistent tokens: {accessor}"))
    );
    let secret = created["SecretID"].as_str().unwrap();
    assert_eq!(
        status(crate::tokens::token_self(
            &host,
            &request("GET", Some(secret), ""),
            &q
        )),
        (403, "ACL token not found".into())
    );
    assert_eq!(
        status(crate::policies::by_name(
            &host,
            &request("DELETE", Some(MANAGEMENT), ""),
            &q,
            "ops"
        )),
        (200, String::new())
    );
    assert_eq!(
        status(crate::policies::by_name(
            &host,
            &request("GET", Some(MANAGEMENT), ""),
            &q,
            "ops"
        )),
        (404, "ACL policy not found".into())
    );
}
