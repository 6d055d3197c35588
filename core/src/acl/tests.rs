use super::*;
use crate::http::Request;

/// The token of a request carrying these headers.
fn token_secret(headers: &[(&str, &str)]) -> Option<String> {
    let request = Request {
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..Request::default()
    };
    request_token(|name| request.header(name)).map(str::to_string)
}

#[test]
fn token_transport_matches_nomad() {
    assert_eq!(
        token_secret(&[("x-nomad-token", "  abc ")]),
        Some("abc".into())
    );
    assert_eq!(
        token_secret(&[("x-nomad-token", "a"), ("authorization", "Bearer b")]),
        Some("a".into())
    );
    assert_eq!(
        token_secret(&[("authorization", "bEaReR  foo bar")]),
        Some("foo".into())
    );
    assert_eq!(token_secret(&[("authorization", "Basic xyz")]), None);
    assert_eq!(token_secret(&[("authorization", "foobar")]), None);
    assert_eq!(token_secret(&[("authorization", "Bearer")]), None);
    assert_eq!(token_secret(&[("authorization", "Bearer ")]), None);
    assert_eq!(token_secret(&[("authorization", "Bearer\tx")]), None);
    assert_eq!(
        token_secret(&[("x-nomad-token", "  "), ("authorization", "Bearer b")]),
        Some("b".into())
    );
    assert_eq!(token_secret(&[]), None);
}

#[test]
fn policies_compile_from_hcl_and_json() {
    let hcl = r#"
            namespace "default" {
              policy       = "read"
              capabilities = ["read-logs"]
            }
            namespace "prod-*" { policy = "write" }
            node { policy = "read" }
        "#;
    let p = compile("p", hcl).unwrap();
    assert_eq!(p.namespaces.len(), 2);
    assert!(
        p.namespaces[0]
            .capabilities
            .contains(&"read-logs".to_string())
    );
    assert!(
        !p.namespaces[0]
            .capabilities
            .contains(&"read-fs".to_string()),
        "read has no read-fs"
    );
    assert_eq!(p.node, Some(Disposition::Read));
    let json = r#"{"namespace":[{"default":{"policy":"read"}}],"node":{"policy":"write"}}"#;
    let p = compile("j", json).unwrap();
    assert_eq!(p.namespaces[0].pattern, "default");
    assert_eq!(p.node, Some(Disposition::Write));
}

/// Found by the `policy` fuzz target: hcl-rs backtracks exponentially in unclosed nested
/// brackets (30 levels of this ran for hours); such text is refused before parsing.
#[test]
fn deeply_nested_policies_are_refused_before_parsing() {
    let text = format!("U={}1", "M*I-/({".repeat(30));
    assert_eq!(
        compile("x", &text).unwrap_err(),
        "Failed to parse ACL policy: nested deeper than 16 levels"
    );
    // Brackets in strings count too; closers close only their own opener.
    assert!(compile("x", &"[}".repeat(17)).is_err());
    let nested = format!("a = {}1{}", "(".repeat(16), ")".repeat(16));
    assert!(compile("x", &nested).is_ok());
    // Real policies are far from the limit.
    let policy = compile(
            "x",
            "namespace \"default\" { capabilities = [\"read-fs\", \"read-logs\"] }\nnode { policy = \"read\" }",
        )
        .unwrap();
    assert_eq!(policy.namespaces[0].capabilities, ["read-fs", "read-logs"]);
}

#[test]
fn invalid_policies_are_rejected_with_a_reason() {
    assert!(
        compile("x", "namespace \"a b\" { policy = \"read\" }")
            .unwrap_err()
            .contains("Invalid namespace name")
    );
    assert!(
        compile("x", "namespace \"a\" { policy = \"admin\" }")
            .unwrap_err()
            .contains("Invalid namespace policy")
    );
    assert!(
        compile("x", "namespace \"a\" { capabilities = [\"fly\"] }")
            .unwrap_err()
            .contains("Invalid namespace capability 'fly'")
    );
    assert!(
        compile("x", "node { policy = \"root\" }")
            .unwrap_err()
            .contains("Invalid node policy")
    );
    assert!(
        compile("x", "namespace {")
            .unwrap_err()
            .starts_with("Failed to parse ACL policy")
    );
}

fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<_> = texts.iter().map(|t| compile("p", t).unwrap()).collect();
    Acl::from_policies(&policies)
}

const FS: Requirement = Requirement::Namespace(&["read-fs"]);
const LOGS: Requirement = Requirement::Namespace(&["read-logs", "read-fs"]);

#[test]
fn evaluation_matches_nomad() {
    let write = acl(&[r#"namespace "default" { policy = "write" }"#]);
    assert!(write.allows(FS, "default") && !write.allows(FS, "other"));
    let read = acl(&[r#"namespace "default" { policy = "read" }"#]);
    assert!(!read.allows(FS, "default") && !read.allows(LOGS, "default"));
    let logs = acl(&[r#"namespace "default" { capabilities = ["read-logs"] }"#]);
    assert!(logs.allows(LOGS, "default") && !logs.allows(FS, "default"));
    let denied = acl(&[
        r#"namespace "default" { policy = "write" }"#,
        r#"namespace "default" { policy = "deny" }"#,
    ]);
    assert!(!denied.allows(FS, "default"), "deny wins across policies");
    let globs = acl(&[
        r#"namespace "*" { policy = "read" }"#,
        r#"namespace "prod-*" { policy = "write" }"#,
        r#"namespace "prod-api" { policy = "deny" }"#,
    ]);
    assert!(globs.allows(FS, "prod-web"), "closest glob wins");
    assert!(!globs.allows(FS, "dev"));
    assert!(
        !globs.allows(Requirement::Namespace(&["read-job"]), "prod-api"),
        "exact beats globs"
    );
    let nodes = acl(&["node { policy = \"write\" }", "node { policy = \"read\" }"]);
    assert!(nodes.allows(Requirement::NodeWrite, ""), "max privilege");
    let node_deny = acl(&["node { policy = \"write\" }", "node { policy = \"deny\" }"]);
    assert!(!node_deny.allows(Requirement::NodeRead, ""));
    assert!(Acl::management().allows(Requirement::NodeWrite, ""));
    // `*` (all namespaces): allowed when any namespace grants it.
    let job = Requirement::Namespace(&["read-job"]);
    assert!(read.allows(job, "*") && !logs.allows(job, "*"));
    assert!(!denied.allows(FS, "*") && !Acl::default().allows(job, "*"));
    assert!(!Acl::default().allows(Requirement::NodeRead, ""));
}

#[test]
fn globs() {
    assert!(glob_match("*", "anything"));
    assert!(glob_match("prod-*", "prod-"));
    assert!(glob_match("a*b*c", "aXbYc"));
    assert!(!glob_match("a*b*c", "aXc"));
    assert!(!glob_match("prod-*", "dev"));
}
