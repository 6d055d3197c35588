use super::*;
use crate::fake::Fake;
use crate::host::{CompiledPolicy, Disposition, Roles, Token};
use crate::http::Action;

const BODY: &str = r#"{"Node":{"ID":"n1","Name":"c1","Datacenter":"dc1","HTTPAddr":"127.0.0.1:1","StaticMeta":{"a":"1"},"DynamicMeta":{"b":null}},"Allocations":[{"spec":{"ID":"a1","Namespace":"ns","JobID":"j","TaskGroup":"g","Tasks":[]},"client_status":"running","tasks":[{"name":"web","state":"running","failed":false,"started_at":{"secs_since_epoch":5,"nanos_since_epoch":7},"finished_at":null,"exit_code":null}]}]}"#;

fn server() -> Fake {
    let host = Fake::default();
    *host.roles.borrow_mut() = Roles {
        server: true,
        client: false,
        ui: true,
    };
    host
}

fn post(host: &Fake, method: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut req = Request {
        method: method.into(),
        path: "/v1/internal/node/register".into(),
        body: body.as_bytes().to_vec(),
        ..Request::default()
    };
    if let Some(token) = token {
        req.headers.push(("x-nomad-token".into(), token.into()));
    }
    match crate::handle(host, &req) {
        Action::Respond(r) => (r.status, String::from_utf8(r.body).unwrap()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_heartbeat_is_decoded_and_recorded() {
    let host = server();
    assert_eq!(post(&host, "POST", BODY, None), (200, String::new()));
    let registered = host.registered.borrow();
    let r = &registered[0];
    assert_eq!(
        (r.node.id.as_str(), r.node.http_addr.as_str()),
        ("n1", "127.0.0.1:1")
    );
    assert_eq!(r.node.dynamic_meta.get("b"), Some(&None));
    let alloc = &r.allocations[0];
    assert_eq!((alloc.id.as_str(), alloc.namespace.as_str()), ("a1", "ns"));
    assert_eq!(alloc.client_status, ClientStatus::Running);
    assert_eq!(alloc.tasks[0].started_at.map(|t| t.nanoseconds), Some(7));
}

#[test]
fn refusals() {
    let client = Fake::default();
    assert_eq!(post(&client, "POST", BODY, None), (404, String::new()));
    let host = server();
    assert_eq!(
        post(&host, "GET", BODY, None),
        (405, "Invalid method".into())
    );
    let (status, text) = post(&host, "POST", "{", None);
    assert_eq!(status, 400);
    assert!(text.starts_with("invalid registration: "), "{text}");
    let missing = BODY.replace(r#""Name":"c1""#, r#""Name":"""#);
    assert_eq!(
        post(&host, "PUT", &missing, None),
        (400, "missing node name for client registration".into())
    );
    assert!(host.registered.borrow().is_empty());
}

#[test]
fn a_live_nodes_allocation_or_id_cannot_be_claimed() {
    let host = server();
    assert_eq!(post(&host, "POST", BODY, None), (200, String::new()));
    // Another node claiming a1 while n1 is live: refused and logged.
    let rogue = BODY
        .replace(r#""ID":"n1""#, r#""ID":"rogue""#)
        .replace("127.0.0.1:1", "127.0.0.1:2");
    let (status, text) = post(&host, "POST", &rogue, None);
    assert_eq!(status, 409);
    assert_eq!(text, "allocation a1 is held by live node n1");
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|l| l.contains("refused the registration of node rogue"))
    );
    // n1's id from another address: refused.
    let moved = BODY.replace("127.0.0.1:1", "127.0.0.1:2");
    assert_eq!(post(&host, "POST", &moved, None).0, 409);
    assert_eq!(host.registered.borrow().len(), 1);
    // n1 again from its own address: fine.
    assert_eq!(post(&host, "POST", BODY, None).0, 200);
    // Once n1 is down, its allocation (and its id) may register elsewhere.
    host.down.borrow_mut().insert("n1".into());
    assert_eq!(post(&host, "POST", &rogue, None).0, 200);
}

#[test]
fn with_mutual_tls_only_a_client_certificate_registers() {
    let host = server();
    let send = |roles: Option<&str>| {
        let mut req = Request {
            method: "POST".into(),
            path: "/v1/internal/node/register".into(),
            body: BODY.as_bytes().to_vec(),
            ..Request::default()
        };
        req.headers
            .push((PEER_CERTIFICATE_HEADER.into(), "ab12".into()));
        if let Some(roles) = roles {
            req.headers.push((PEER_ROLE_HEADER.into(), roles.into()));
        }
        match crate::handle(&host, &req) {
            Action::Respond(r) => r.status,
            other => panic!("{other:?}"),
        }
    };
    let last_certificate = || {
        host.registered
            .borrow()
            .last()
            .and_then(|r| r.certificate_sha256.clone())
    };
    assert_eq!(send(Some("")), 403);
    assert_eq!(send(Some("cli.global.nomad")), 403);
    assert_eq!(send(Some("server.global.nomad")), 403);
    assert!(host.registered.borrow().is_empty());
    assert_eq!(send(Some("server.global.nomad client.global.nomad")), 200);
    // The node is bound to the certificate it registered with...
    assert_eq!(last_certificate().as_deref(), Some("ab12"));
    // ...which only counts with mutual TLS, where the host sets both headers.
    assert_eq!(send(None), 200);
    assert_eq!(last_certificate(), None);
}

#[test]
fn with_acls_only_node_write_registers() {
    let host = server();
    *host.acl_enabled.borrow_mut() = true;
    for (name, node) in [
        ("reader", Disposition::Read),
        ("writer", Disposition::Write),
    ] {
        host.policies.borrow_mut().push(CompiledPolicy {
            name: name.into(),
            namespaces: Vec::new(),
            node: Some(node),
            agent: None,
        });
        host.tokens.borrow_mut().insert(
            format!("secret-{name}"),
            Token {
                accessor_id: name.into(),
                name: name.into(),
                management: false,
                policies: vec![name.into()],
                ..Token::default()
            },
        );
    }
    let denied = (403, "Permission denied".to_string());
    assert_eq!(post(&host, "POST", BODY, None), denied);
    assert_eq!(post(&host, "POST", BODY, Some("secret-reader")), denied);
    assert_eq!(
        post(&host, "POST", BODY, Some("nope")),
        (403, "ACL token not found".into())
    );
    assert!(host.registered.borrow().is_empty());
    assert_eq!(
        post(&host, "POST", BODY, Some("secret-writer")),
        (200, String::new())
    );
    assert_eq!(host.registered.borrow().len(), 1);
}

/// Nomad marks what a node that went down had not finished `lost`, in every view.
#[test]
fn the_allocations_of_a_down_node_read_lost() {
    let host = server();
    assert_eq!(post(&host, "POST", BODY, None).0, 200);
    let get = |path: &str| {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            query: "namespace=*".into(),
            ..Request::default()
        };
        match crate::handle(&host, &req) {
            Action::Respond(r) => serde_json::from_slice::<Value>(&r.body).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let statuses = |alloc: &Value| {
        (
            alloc["ClientStatus"].clone(),
            alloc["DesiredStatus"].clone(),
        )
    };
    let running = (Value::from("running"), Value::from("run"));
    assert_eq!(statuses(&get("/v1/allocation/a1")), running);
    assert_eq!(statuses(&get("/v1/allocations")[0]), running);
    host.down.borrow_mut().insert("n1".into());
    let lost = (Value::from("lost"), Value::from("stop"));
    assert_eq!(statuses(&get("/v1/allocation/a1")), lost);
    assert_eq!(statuses(&get("/v1/allocations")[0]), lost);
}

/// A live node that proves it is the same node (the secret it registered with) moves to
/// another address at once; without it, or with another, it is refused as before.
#[test]
fn a_live_node_moves_at_once_with_its_secret() {
    let host = server();
    let body = |addr: &str, secret: Option<&str>| {
        let mut doc: Value = serde_json::from_str(BODY).unwrap();
        doc["Node"]["HTTPAddr"] = addr.into();
        if let Some(secret) = secret {
            doc["SecretID"] = secret.into();
        }
        doc.to_string()
    };
    assert_eq!(
        post(&host, "POST", &body("127.0.0.1:1", Some("s3cret")), None).0,
        200
    );
    let (status, text) = post(&host, "POST", &body("127.0.0.1:2", None), None);
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("does not prove it is the same node"),
        "{text}"
    );
    assert_eq!(
        post(&host, "POST", &body("127.0.0.1:2", Some("other")), None).0,
        409
    );
    assert_eq!(
        post(&host, "POST", &body("127.0.0.1:2", Some("s3cret")), None).0,
        200
    );
    let registered = host.registered.borrow();
    let last = registered.last().unwrap();
    assert_eq!(last.node.http_addr, "127.0.0.1:2");
    // Only the secret's SHA-256 is kept; it is in no log line.
    let kept = last.secret_sha256.clone().unwrap();
    assert_eq!(kept.len(), 64);
    assert_ne!(kept, "s3cret");
    assert!(host.logs.borrow().iter().all(|l| !l.contains("s3cret")));
}
