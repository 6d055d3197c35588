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

/// The ACL API's token and policy routes.
mod api;
