//! ACLs end to end: every route against every kind of caller, policy reloads, bootstrap,
//! and secrets kept out of logs and bodies.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{Agent, wait_log, wait_until};

const NAMESPACED_POLICIES: &[(&str, &str)] = &[
    ("other-ns", r#"namespace "other" { policy = "write" }"#),
    ("read", r#"namespace "default" { policy = "read" }"#),
    ("write", r#"namespace "default" { policy = "write" }"#),
    (
        "logs-only",
        r#"namespace "default" { capabilities = ["read-logs"] }"#,
    ),
    ("glob", r#"namespace "def*" { policy = "write" }"#),
    ("denied", r#"namespace "default" { policy = "deny" }"#),
    ("node-read", r#"node { policy = "read" }"#),
    ("node-write", r#"node { policy = "write" }"#),
];

/// (column, secret or none, policies of the token)
const CALLERS: &[(&str, Option<&str>)] = &[
    ("anonymous", None),
    ("unknown", Some("00000000-0000-0000-0000-00000000dead")),
    ("expired", Some("secret-expired")),
    ("other-ns", Some("secret-other-ns")),
    ("read", Some("secret-read")),
    ("write", Some("secret-write")),
    ("logs-only", Some("secret-logs-only")),
    ("glob", Some("secret-glob")),
    ("deny", Some("secret-deny")),
    ("node-read", Some("secret-node-read")),
    ("node-write", Some("secret-node-write")),
    ("management", Some("secret-management")),
];

pub fn write_acl_files(data: &Path) {
    let policies = data.join("acl/policies");
    let tokens = data.join("acl/tokens");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::create_dir_all(&tokens).unwrap();
    for (name, text) in NAMESPACED_POLICIES {
        std::fs::write(policies.join(format!("{name}.hcl")), text).unwrap();
    }
    let token = |name: &str, kind: &str, policies: &[&str], expires: Option<&str>| {
        let mut doc = serde_json::json!({
            "AccessorID": uuid::Uuid::new_v4().to_string(),
            "SecretID": format!("secret-{name}"),
            "Name": name, "Type": kind, "Policies": policies,
        });
        if let Some(at) = expires {
            doc["ExpirationTime"] = at.into();
        }
        std::fs::write(tokens.join(format!("{name}.json")), doc.to_string()).unwrap();
    };
    token(
        "expired",
        "client",
        &["write"],
        Some("2001-01-01T00:00:00Z"),
    );
    for name in [
        "other-ns",
        "read",
        "write",
        "logs-only",
        "glob",
        "node-read",
        "node-write",
    ] {
        token(name, "client", &[name], Some("2999-01-01T00:00:00Z"));
    }
    token("deny", "client", &["write", "denied"], None);
    token("management", "management", &[], None);
}

/// Which callers a route lets through (by column name), besides management.
fn allowed(route: &str) -> &'static [&'static str] {
    match route {
        "metadata GET" | "stats" => &["node-read", "node-write"],
        "metadata POST" | "gc" | "node/register" => &["node-write"],
        "fs/logs" | "job/logs" => &["write", "logs-only", "glob"],
        "fs/ls" | "fs/stat" | "fs/cat" | "fs/readat" | "fs/stream" => &["write", "glob"],
        "allocation/stats" => &["read", "write", "glob"],
        "allocation/gc" => &["write", "glob"],
        "allocation/restart" | "allocation/signal" => &["write", "glob"],
        "allocation/checks" => &["read", "write", "glob"],
        // pause is not implemented (501), but only after Nomad's `alloc-lifecycle` check.
        "allocation/unsupported" => &["write", "glob"],
        // alloc-exec (in write) and alloc-node-exec (in no built-in policy): management only.
        "allocation/exec" => &[],
        "nodes" | "node" => &["node-read", "node-write"],
        "allocation" => &["read", "write", "glob"],
        // Nomad's `Alloc.List`: read-job in the namespace asked for (here `default`).
        "allocations" => &["read", "write", "glob"],
        _ => &[],
    }
}

fn routes(alloc: &str, node: &str) -> Vec<(&'static str, &'static str, String, &'static [u8])> {
    let fs = |op: &str, q: &str| format!("/v1/client/fs/{op}/{alloc}?{q}");
    vec![
        ("metadata GET", "GET", "/v1/client/metadata".into(), b""),
        (
            "metadata POST",
            "POST",
            "/v1/client/metadata".into(),
            br#"{"Meta":{"k":"v"}}"#,
        ),
        ("stats", "GET", "/v1/client/stats".into(), b""),
        ("gc", "GET", "/v1/client/gc".into(), b""),
        ("fs/ls", "GET", fs("ls", "path=/"), b""),
        ("fs/stat", "GET", fs("stat", "path=alloc"), b""),
        (
            "fs/cat",
            "GET",
            fs("cat", "path=alloc/data/config.json"),
            b"",
        ),
        (
            "fs/readat",
            "GET",
            fs("readat", "path=alloc/data/config.json&offset=0"),
            b"",
        ),
        (
            "fs/stream",
            "GET",
            fs("stream", "path=alloc/data/config.json&follow=false"),
            b"",
        ),
        ("fs/logs", "GET", fs("logs", "task=demo&type=stdout"), b""),
        (
            "allocation/stats",
            "GET",
            format!("/v1/client/allocation/{alloc}/stats"),
            b"",
        ),
        (
            "allocation/gc",
            "GET",
            format!("/v1/client/allocation/{alloc}/gc"),
            b"",
        ),
        // Bodies the core refuses after the ACL check, so that no task is disturbed.
        (
            "allocation/restart",
            "POST",
            format!("/v1/client/allocation/{alloc}/restart"),
            br#"{"TaskName":"no-such-task"}"#,
        ),
        (
            "allocation/signal",
            "POST",
            format!("/v1/client/allocation/{alloc}/signal"),
            br#"{"Signal":"SIGNOPE"}"#,
        ),
        (
            "allocation/checks",
            "GET",
            format!("/v1/client/allocation/{alloc}/checks"),
            b"",
        ),
        (
            "allocation/exec",
            "GET",
            format!("/v1/client/allocation/{alloc}/exec?task=demo&command=%5B%22true%22%5D"),
            b"",
        ),
        (
            "allocation/unsupported",
            "POST",
            format!("/v1/client/allocation/{alloc}/pause"),
            b"",
        ),
        ("acl/token/self", "GET", "/v1/acl/token/self".into(), b""),
        ("acl/bootstrap", "POST", "/v1/acl/bootstrap".into(), b""),
        ("acl/policies", "GET", "/v1/acl/policies".into(), b""),
        ("acl/policy", "GET", "/v1/acl/policy/read".into(), b""),
        ("acl/tokens", "GET", "/v1/acl/tokens".into(), b""),
        // A body refused after the check: nothing is created.
        (
            "acl/token",
            "POST",
            "/v1/acl/token".into(),
            br#"{"Type":"client"}"#,
        ),
        (
            "acl/token/accessor",
            "DELETE",
            "/v1/acl/token/no-such-accessor".into(),
            b"",
        ),
        (
            "acl/resolve",
            "POST",
            "/v1/internal/acl/resolve".into(),
            br#"{"SecretID":"secret-read"}"#,
        ),
        (
            "node/register",
            "POST",
            caravan_core::router::REGISTER_PATH.into(),
            REGISTRATION,
        ),
        ("nodes", "GET", "/v1/nodes".into(), b""),
        ("node", "GET", format!("/v1/node/{node}"), b""),
        ("allocations", "GET", "/v1/allocations".into(), b""),
        ("allocation", "GET", format!("/v1/allocation/{alloc}"), b""),
        (
            "job/logs",
            "GET",
            "/v1/job/demo/logs?type=stderr".into(),
            b"",
        ),
        ("ui", "GET", "/ui/".into(), b""),
    ]
}

/// A heartbeat as a client sends it (`tests/e2e/cluster.rs` registers it with a server).
pub const REGISTRATION: &[u8] = br#"{"Node":{"ID":"c0c0c0c0-0000-4000-8000-000000000002","Name":"outsider","Datacenter":"dc1","HTTPAddr":"127.0.0.1:9","StaticMeta":{},"DynamicMeta":{}},"Allocations":[]}"#;

/// The ACL API's answers (its routes resolve the caller themselves: docs/acl.md); `None` for
/// other routes. With ACLs off they all answer 400 `ACL support disabled`.
fn acl_api_answer(name: &str, column: &str) -> Option<(u16, &'static str)> {
    if !name.starts_with("acl/") || matches!(name, "acl/token/self" | "acl/bootstrap") {
        return None;
    }
    let denied = (403, "Permission denied");
    Some(match (name, column) {
        (_, "unknown") => (403, "ACL token not found"),
        (_, "expired") => (403, "ACL token expired"),
        // Everyone lists (their own) policies; a token reads the policies it holds.
        ("acl/policies", _) | ("acl/policy", "management" | "read") => (200, ""),
        ("acl/tokens", "management") => (200, ""),
        ("acl/token", "management") => (400, ""),
        ("acl/token/accessor", "management") => {
            (400, "Cannot delete nonexistent tokens: no-such-accessor")
        }
        ("acl/resolve", "management" | "node-write") => (200, ""),
        _ => denied,
    })
}

/// Routes that answer the same to every caller: bootstrap checks no token (a management token
/// exists here, so it is always already done).
fn fixed_answer(name: &str, acl_enabled: bool) -> Option<(u16, &'static str)> {
    match name {
        "acl/bootstrap" if acl_enabled => Some((400, "ACL bootstrap already done")),
        "acl/bootstrap" => Some((400, "ACL support disabled")),
        _ => None,
    }
}

fn route_name(label: &str) -> &str {
    label.split(' ').next().unwrap()
}

#[test]
fn every_route_against_every_caller() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path();
    // Baseline with ACLs off: what each request answers when nothing is checked.
    let open = Agent::start_in(data, &[]);
    let alloc = open.demo_alloc.clone();
    let table = routes(&alloc, &open.node_id);
    let covered: BTreeSet<&str> = table.iter().map(|(label, ..)| route_name(label)).collect();
    let known: BTreeSet<&str> = caravan_core::router::NAMES.iter().copied().collect();
    assert_eq!(
        covered, known,
        "the matrix must cover every route the router knows"
    );
    let baseline: Vec<u16> = table
        .iter()
        .map(|(label, method, path, body)| {
            let reply = open.request(method, path, &[], body);
            if let Some(fixed) = fixed_answer(route_name(label), false) {
                assert_eq!((reply.status, reply.text().as_str()), fixed, "{label}");
            }
            if acl_api_answer(route_name(label), "management").is_some() {
                let off = (reply.status, reply.text());
                assert_eq!(off, (400, "ACL support disabled".into()), "{label}");
            }
            reply.status
        })
        .collect();
    assert!(open.terminate().success());

    write_acl_files(data);
    let agent = Agent::start_in(data, &["-acl-enabled"]);
    let mut secrets_seen = Vec::new();
    for (column, secret) in CALLERS {
        let headers: Vec<(&str, &str)> = secret
            .map(|s| vec![("X-Nomad-Token", s)])
            .unwrap_or_default();
        for ((label, method, path, body), open_status) in table.iter().zip(&baseline) {
            let reply = agent.request(method, path, &headers, body);
            let name = route_name(label);
            let (status, text) = (reply.status, reply.text());
            if name == "acl/token/self" {
                let expected = match *column {
                    "anonymous" | "unknown" => (403, "ACL token not found"),
                    "expired" => (403, "ACL token expired"),
                    _ => (200, ""),
                };
                assert_eq!(status, expected.0, "{column} × {label}: {text}");
                if status == 200 {
                    assert_eq!(reply.json()["SecretID"], secret.unwrap());
                }
                continue;
            }
            if let Some(fixed) = fixed_answer(name, true) {
                assert_eq!((status, text.as_str()), fixed, "{column} × {label}");
                continue;
            }
            if let Some((expected, message)) = acl_api_answer(name, column) {
                assert_eq!(status, expected, "{column} × {label}: {text}");
                if !message.is_empty() {
                    assert_eq!(text, message, "{column} × {label}");
                }
                secrets_seen.push(text);
                continue;
            }
            if name == "ui" {
                // The UI's files are public, as Nomad's; the page's own requests are checked.
                assert_eq!(status, 200, "{column} × {label}");
                continue;
            }
            let expected = match *column {
                "unknown" => Err("ACL token not found"),
                "expired" => Err("ACL token expired"),
                "management" => Ok(()),
                c if allowed(label).contains(&c) => Ok(()),
                _ => Err("Permission denied"),
            };
            match expected {
                Ok(()) => assert_eq!(
                    status, *open_status,
                    "{column} × {label} should pass: {text}"
                ),
                Err(message) => assert_eq!(
                    (status, text.as_str()),
                    (403, message),
                    "{column} × {label}"
                ),
            }
            secrets_seen.push(text);
        }
    }

    // An anonymous policy, added while running, takes effect without a restart.
    std::fs::write(
        data.join("acl/policies/anonymous.hcl"),
        r#"namespace "default" { capabilities = ["read-fs"] }"#,
    )
    .unwrap();
    let ls = format!("/v1/client/fs/ls/{alloc}?path=/");
    wait_until("the allocation to be listable", || {
        agent.get(&ls).status == 200
    });
    // The column "anonymous policy with read-fs": every fs route opens, nothing else does.
    for ((label, method, path, body), open_status) in table.iter().zip(&baseline) {
        let reply = agent.request(method, path, &[], body);
        let expected = match route_name(label) {
            // Not `allocations`: listing needs read-job (Nomad's `Alloc.List`).
            name if name.starts_with("fs/") || name == "ui" || name == "job/logs" => *open_status,
            name if acl_api_answer(name, "anonymous").is_some() => {
                acl_api_answer(name, "anonymous").unwrap().0
            }
            name if fixed_answer(name, true).is_some() => fixed_answer(name, true).unwrap().0,
            _ => 403,
        };
        assert_eq!(
            reply.status,
            expected,
            "anonymous with read-fs × {label}: {}",
            reply.text()
        );
    }
    assert_eq!(
        agent.get("/v1/client/stats").status,
        403,
        "anonymous read-fs grants no node access"
    );
    // A broken edit is reported and the previous version stays in force.
    std::fs::write(data.join("acl/policies/anonymous.hcl"), "namespace {").unwrap();
    wait_log(&agent, "ACL policy \"anonymous\"");
    assert_eq!(agent.get(&ls).status, 200);
    // The allocation's namespace counts, not a `namespace` parameter.
    let other = agent.request(
        "GET",
        &format!("{ls}&namespace=other"),
        &[("X-Nomad-Token", "secret-other-ns")],
        b"",
    );
    assert_eq!(other.status, 403);
    // Bearer tokens work like X-Nomad-Token.
    let bearer = agent.request(
        "GET",
        "/v1/client/stats",
        &[("Authorization", "Bearer secret-node-read")],
        b"",
    );
    assert_eq!(bearer.status, 200);

    let log = agent.log();
    for (_, secret) in CALLERS {
        if let Some(secret) = secret {
            assert!(!log.contains(secret), "a secret reached the log");
            assert!(
                secrets_seen.iter().all(|body| !body.contains(secret)),
                "a secret reached an error body"
            );
        }
    }
}

#[test]
fn bootstrap_creates_one_management_token() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    assert_eq!(
        agent.get("/v1/client/stats").status,
        403,
        "default deny without an anonymous policy"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["acl", "bootstrap"])
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Secret ID    = "))
        .unwrap()
        .to_string();
    assert!(stdout.contains("Type         = management"));
    let reply = agent.request(
        "GET",
        "/v1/client/stats",
        &[("X-Nomad-Token", &secret)],
        b"",
    );
    assert_eq!(reply.status, 200);
    // Swapping the core needs a management token once ACLs are on.
    let anonymous = agent.request("PUT", "/v1/agent/core", &[], b"not wasm");
    assert_eq!(
        (anonymous.status, anonymous.text().as_str()),
        (403, "Permission denied")
    );
    let managed = agent.request(
        "PUT",
        "/v1/agent/core",
        &[("X-Nomad-Token", &secret)],
        b"not wasm",
    );
    assert_ne!(managed.status, 403, "{}", managed.text());
    let again = agent.request("POST", "/v1/acl/bootstrap", &[], b"");
    assert_eq!(
        (again.status, again.text().as_str()),
        (400, "ACL bootstrap already done")
    );
    assert!(
        !agent.log().contains(&secret),
        "the secret is printed once, never logged"
    );
}

#[test]
fn bootstrap_answers_in_nomads_acl_token_shape() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let wrong = agent.request("GET", "/v1/acl/bootstrap", &[], b"");
    assert_eq!(
        (wrong.status, wrong.text().as_str()),
        (405, "Invalid method")
    );
    let reply = agent.request("PUT", "/v1/acl/bootstrap", &[("Origin", "http://ui")], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("access-control-allow-origin"),
        None,
        "no CORS, as before"
    );
    let token = reply.json();
    let keys: Vec<&str> = token
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "AccessorID",
            "CreateIndex",
            "CreateTime",
            "ExpirationTime",
            "Global",
            "ModifyIndex",
            "Name",
            "Policies",
            "Roles",
            "SecretID",
            "Type"
        ]
    );
    assert_eq!(token["Name"], "Bootstrap Token");
    assert_eq!(token["Type"], "management");
    assert_eq!(token["Global"], true);
    assert!(token["Policies"].is_null() && token["Roles"].is_null());
    assert!(token["ExpirationTime"].is_null());
    assert!(token["CreateTime"].as_str().unwrap().ends_with('Z'));
    let secret = token["SecretID"].as_str().unwrap();
    // The token works, and its file holds it for the next start.
    let me = agent.request(
        "GET",
        "/v1/acl/token/self",
        &[("X-Nomad-Token", secret)],
        b"",
    );
    assert_eq!(me.json()["AccessorID"], token["AccessorID"]);
    assert_eq!(me.json()["CreateTime"], token["CreateTime"]);
    let again = agent.request("PUT", "/v1/acl/bootstrap", &[], b"");
    assert_eq!(
        (again.status, again.text().as_str()),
        (400, "ACL bootstrap already done")
    );
}

/// Nomad's `Alloc.List`: `read-job` in the namespace asked for (in any namespace, for `*`),
/// else 403; then only what the caller may read. So an id prefix looked up without a token
/// says the caller lacks permission rather than that nothing matched.
#[test]
fn listing_allocations_needs_read_job_in_the_namespace() {
    let temp = tempfile::tempdir().unwrap();
    write_acl_files(temp.path());
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let list = |namespace: &str, secret: Option<&str>| {
        let headers: Vec<(&str, &str)> = secret
            .map(|s| vec![("X-Nomad-Token", s)])
            .unwrap_or_default();
        let reply = agent.request(
            "GET",
            &format!("/v1/allocations?namespace={namespace}"),
            &headers,
            b"",
        );
        (reply.status, reply.text())
    };
    let denied = (403, "Permission denied".to_string());
    assert_eq!(list("default", None), denied);
    assert_eq!(list("*", None), denied);
    assert_eq!(list("default", Some("secret-other-ns")), denied);
    assert_eq!(list("*", Some("secret-other-ns")), (200, "[]".into()));
    let (status, body) = list("*", Some("secret-read"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&agent.demo_alloc), "{body}");

    let prefix = &agent.demo_alloc[..8];
    let status = |token: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"));
        command
            .args(["alloc", "status", prefix])
            .env("NOMAD_ADDR", format!("http://{}", agent.addr))
            .env_remove("NOMAD_TOKEN");
        if let Some(token) = token {
            command.env("NOMAD_TOKEN", token);
        }
        command.output().unwrap()
    };
    let out = status(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("403 (Permission denied)"), "{stderr}");
    assert!(!stderr.contains("No allocation"), "{stderr}");
    let out = status(Some("secret-read"));
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&agent.demo_alloc),
        "{out:?}"
    );
}
