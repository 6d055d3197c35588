//! Nomad's ACL API (`/v1/acl/policy*`, `/v1/acl/token*`) and `caravan acl policy|token`:
//! on one agent, a policy and a client token grant exactly the policy's capabilities and
//! only a management token writes; in server mode a client resolves the servers' tokens
//! (and forgets a deleted one within the TTL, and keeps a cached one while the servers are
//! away); with two servers on etcd, either server's tokens work on a client of the other.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Agent, Reply, wait_until};

const READER: &str = "node { policy = \"read\" }\n";

fn call(agent: &Agent, method: &str, target: &str, token: Option<&str>, body: &Value) -> Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Nomad-Token", t)).into_iter().collect();
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    agent.request(method, target, &headers, &body)
}

pub(crate) fn bootstrap(agent: &Agent) -> String {
    let reply = agent.request("POST", "/v1/acl/bootstrap", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["SecretID"].as_str().unwrap().to_string()
}

pub(crate) fn put_policy(agent: &Agent, token: &str, name: &str, rules: &str) {
    let body = json!({"Name": name, "Description": "e2e", "Rules": rules});
    let reply = call(
        agent,
        "POST",
        &format!("/v1/acl/policy/{name}"),
        Some(token),
        &body,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// A client token with these policies: (accessor, secret).
pub(crate) fn create_token(agent: &Agent, token: &str, policies: &[&str]) -> (String, String) {
    let body = json!({"Name": "e2e", "Type": "client", "Policies": policies});
    let reply = call(agent, "POST", "/v1/acl/token", Some(token), &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let made = reply.json();
    (
        made["AccessorID"].as_str().unwrap().to_string(),
        made["SecretID"].as_str().unwrap().to_string(),
    )
}

fn status(agent: &Agent, method: &str, target: &str, token: &str) -> u16 {
    call(agent, method, target, Some(token), &Value::Null).status
}

/// What a `node { policy = "read" }` token may and may not do on `agent`.
fn assert_reads_the_node_only(agent: &Agent, secret: &str) {
    assert_eq!(status(agent, "GET", "/v1/client/stats", secret), 200);
    assert_eq!(status(agent, "GET", "/v1/client/metadata", secret), 200);
    let apply = json!({"Meta": {"k": "v"}});
    let post = call(agent, "POST", "/v1/client/metadata", Some(secret), &apply);
    assert_eq!(
        (post.status, post.text().as_str()),
        (403, "Permission denied")
    );
}

#[test]
fn a_policy_and_token_made_through_the_api_grant_exactly_the_policy() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let root = bootstrap(&agent);
    let denied = |reply: Reply| {
        assert_eq!(
            (reply.status, reply.text()),
            (403, "Permission denied".into())
        )
    };
    let policy = json!({"Name": "reader", "Rules": READER});
    denied(call(&agent, "POST", "/v1/acl/policy/reader", None, &policy));
    put_policy(&agent, &root, "reader", READER);
    let (accessor, secret) = create_token(&agent, &root, &["reader"]);
    assert_reads_the_node_only(&agent, &secret);
    let alloc = &agent.demo_alloc;
    assert_eq!(
        status(&agent, "GET", &format!("/v1/client/fs/ls/{alloc}"), &secret),
        403
    );
    // Neither an anonymous caller nor a client token writes ACLs.
    for token in [None, Some(secret.as_str())] {
        denied(call(
            &agent,
            "POST",
            "/v1/acl/policy/x",
            token,
            &json!({"Name": "x", "Rules": READER}),
        ));
        denied(call(
            &agent,
            "DELETE",
            "/v1/acl/policy/reader",
            token,
            &Value::Null,
        ));
        let create = json!({"Type": "management"});
        denied(call(&agent, "POST", "/v1/acl/token", token, &create));
        denied(call(
            &agent,
            "DELETE",
            &format!("/v1/acl/token/{accessor}"),
            token,
            &Value::Null,
        ));
        denied(call(&agent, "GET", "/v1/acl/tokens", token, &Value::Null));
    }
    let me = call(
        &agent,
        "GET",
        "/v1/acl/token/self",
        Some(&secret),
        &Value::Null,
    )
    .json();
    assert_eq!(
        (me["AccessorID"].as_str(), me["Type"].as_str()),
        (Some(accessor.as_str()), Some("client"))
    );

    // The state survives a restart, and holds no secret, only its hash.
    drop(agent);
    let state = std::fs::read(temp.path().join("client/state.redb")).unwrap();
    for secret in [&root, &secret] {
        assert!(
            !state.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is on disk"
        );
    }
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    assert_reads_the_node_only(&agent, &secret);
    let delete = call(
        &agent,
        "DELETE",
        &format!("/v1/acl/token/{accessor}"),
        Some(&root),
        &Value::Null,
    );
    assert_eq!(delete.status, 200, "{}", delete.text());
    let gone = call(
        &agent,
        "GET",
        "/v1/client/stats",
        Some(&secret),
        &Value::Null,
    );
    assert_eq!(
        (gone.status, gone.text().as_str()),
        (403, "ACL token not found")
    );
    assert!(
        !agent.log().contains(&secret) && !agent.log().contains(&root),
        "a secret was logged"
    );
}

fn cli(agent: &Agent, token: &str, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(args)
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env("NOMAD_TOKEN", token)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label)?.trim_start().strip_prefix("= "))
        .unwrap_or_else(|| panic!("no {label} in {text}"))
}

#[test]
fn the_cli_manages_policies_and_tokens_as_nomads() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    let root = bootstrap(&agent);
    let wrote = cli(
        &agent,
        &root,
        &[
            "acl",
            "policy",
            "apply",
            "-description",
            "reads nodes",
            "reader",
            "-",
        ],
        READER,
    );
    assert_eq!(wrote, "Successfully wrote \"reader\" ACL policy!\n");
    let listed = cli(&agent, &root, &["acl", "policy", "list"], "");
    assert!(
        listed.contains("reader") && listed.contains("reads nodes"),
        "{listed}"
    );
    let info = cli(&agent, &root, &["acl", "policy", "info", "reader"], "");
    assert!(info.ends_with(&format!("Rules\n\n{}", READER)), "{info}");
    let made = cli(
        &agent,
        &root,
        &[
            "acl", "token", "create", "-name", "ops", "-policy", "reader",
        ],
        "",
    );
    let (accessor, secret) = (field(&made, "Accessor ID"), field(&made, "Secret ID"));
    assert_eq!(field(&made, "Policies"), "[reader]");
    assert_reads_the_node_only(&agent, secret);
    let me = cli(&agent, secret, &["acl", "token", "self", "-json"], "");
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["AccessorID"], accessor);
    let tokens = cli(&agent, &root, &["acl", "token", "list"], "");
    assert!(
        tokens.contains(accessor) && tokens.contains("Bootstrap Token"),
        "{tokens}"
    );
    let updated = cli(
        &agent,
        &root,
        &["acl", "token", "update", "-name", "renamed", accessor],
        "",
    );
    assert_eq!(field(&updated, "Name"), "renamed");
    let deleted = cli(&agent, &root, &["acl", "token", "delete", accessor], "");
    assert_eq!(deleted, format!("Token {accessor} successfully deleted\n"));
    assert_eq!(status(&agent, "GET", "/v1/client/stats", secret), 403);
    cli(&agent, &root, &["acl", "policy", "delete", "reader"], "");
    assert_eq!(
        cli(&agent, &root, &["acl", "policy", "list"], ""),
        "No policies found\n"
    );
}

/// A server with ACLs on, a management token, and a node-write token for its clients.
pub(crate) fn acl_server(dir: &Path, extra: &[&str]) -> Agent {
    let mut flags = vec!["-server", "-node=server", "-acl-enabled"];
    flags.extend_from_slice(extra);
    Agent::spawn(dir, &flags)
}

/// A client of `servers` with ACLs on, the token TTL short, and this node token.
pub(crate) fn acl_client(dir: &Path, servers: &[&Agent], node_token: &str) -> Agent {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("client.hcl");
    std::fs::write(
        &config,
        format!(
            "acl {{\n  enabled = true\n  token_ttl = \"1s\"\n}}\nclient {{\n  node_token = \"{node_token}\"\n}}\n"
        ),
    )
    .unwrap();
    let list: Vec<&str> = servers.iter().map(|s| s.addr.as_str()).collect();
    Agent::spawn(
        dir,
        &[
            "-node=client",
            &format!("-servers={}", list.join(",")),
            &format!("-config={}", config.display()),
        ],
    )
}

/// Make a node-write token on `server` (what a client needs to register and resolve).
pub(crate) fn node_token(server: &Agent, root: &str) -> String {
    put_policy(server, root, "node-writer", "node { policy = \"write\" }\n");
    create_token(server, root, &["node-writer"]).1
}

#[test]
fn a_client_resolves_the_servers_tokens_caches_them_and_sees_deletions() {
    let temp = tempfile::tempdir().unwrap();
    let server = acl_server(&temp.path().join("server"), &[]);
    let root = bootstrap(&server);
    let node = node_token(&server, &root);
    let client = acl_client(&temp.path().join("client"), &[&server], &node);
    put_policy(&server, &root, "reader", READER);
    let (accessor, secret) = create_token(&server, &root, &["reader"]);
    assert_reads_the_node_only(&client, &secret);
    assert_eq!(
        status(&client, "GET", "/v1/client/stats", "no-such-secret"),
        403
    );
    // The host's own route resolves through the servers too.
    assert_eq!(status(&client, "GET", "/v1/agent/core", &root), 200);
    assert_eq!(status(&client, "GET", "/v1/agent/core", &secret), 403);

    let deleted = call(
        &server,
        "DELETE",
        &format!("/v1/acl/token/{accessor}"),
        Some(&root),
        &Value::Null,
    );
    assert_eq!(deleted.status, 200);
    wait_until("the client to refuse the deleted token", || {
        status(&client, "GET", "/v1/client/stats", &secret) == 403
    });

    // With the server gone, a cached token keeps working past its TTL.
    let (_, kept) = create_token(&server, &root, &["reader"]);
    assert_eq!(status(&client, "GET", "/v1/client/stats", &kept), 200);
    server.terminate();
    // Each request past the TTL asks the (stopped) server, and is answered from the cache.
    wait_until("a lookup with no server to answer", || {
        assert_eq!(status(&client, "GET", "/v1/client/stats", &kept), 200);
        client
            .log()
            .contains("no server answered an ACL token lookup")
    });
    assert_eq!(status(&client, "GET", "/v1/client/stats", &kept), 200);
    assert!(!client.log().contains(&kept), "a secret was logged");
}

#[test]
fn tokens_made_on_one_etcd_server_work_on_a_client_of_the_other() {
    let temp = tempfile::tempdir().unwrap();
    let etcd = crate::etcd::Etcd::start(&temp.path().join("etcd"));
    let config = temp.path().join("server.hcl");
    std::fs::write(
        &config,
        format!(
            "server {{\n  registry = \"etcd\"\n  etcd {{\n    endpoints = [\"{}\"]\n    prefix = \"/caravan-acl-e2e/\"\n  }}\n}}\n",
            etcd.endpoint()
        ),
    )
    .unwrap();
    let with_etcd = format!("-config={}", config.display());
    let a = acl_server(&temp.path().join("a"), &[&with_etcd]);
    let b = acl_server(&temp.path().join("b"), &[&with_etcd]);
    let root = bootstrap(&a);
    wait_until("server b to know a's management token", || {
        status(&b, "GET", "/v1/acl/token/self", &root) == 200
    });
    let again = b.request("POST", "/v1/acl/bootstrap", &[], b"");
    assert_eq!(
        (again.status, again.text().as_str()),
        (400, "ACL bootstrap already done")
    );
    let node = node_token(&a, &root);
    wait_until("server b to know the node token", || {
        status(&b, "GET", "/v1/acl/token/self", &node) == 200
    });
    let client = acl_client(&temp.path().join("client"), &[&b], &node);
    put_policy(&a, &root, "reader", READER);
    let (_, secret) = create_token(&a, &root, &["reader"]);
    wait_until("the client of b to accept a's token", || {
        status(&client, "GET", "/v1/client/stats", &secret) == 200
    });
    assert_reads_the_node_only(&client, &secret);
}
