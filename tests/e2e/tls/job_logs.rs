//! A job's logs over mutual TLS with ACLs (issue 30): the server reads each client node over
//! https, presenting its own certificate and checking the node's, with the caller's token.

use serde_json::json;

use crate::support::{Agent, wait_until, write_spec};

use super::server_mode::{acl_server, tls_agent};
use super::{Ca, cli, write_leaf};

/// An allocation of job `demo` that says `word` five times a second.
fn place_talker(agent: &Agent, word: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let spec = json!({"ID": id, "JobID": "demo", "TaskGroup": "demo", "Tasks": [
        {"Name": "talk", "Command": "/bin/sh",
         "Args": ["-c", format!("while :; do echo {word}; sleep 0.2; done")]}
    ]});
    write_spec(agent, &spec);
    id
}

#[test]
fn a_servers_fleet_view_over_mutual_tls_with_acls() {
    let temp = tempfile::tempdir().unwrap();
    let ca = Ca::new("caravan cluster CA");
    let srv_dir = temp.path().join("srv");
    let srv = acl_server(&srv_dir, &ca);
    let client_leaf = ca.issue(&["client.global.nomad", "localhost", "127.0.0.1"]);
    let node_token = "client {\n  node_token = \"secret-node-write\"\n}\n";
    let servers = format!("-servers={}", srv.addr);
    let c1 = tls_agent(
        &temp.path().join("c1"),
        &ca,
        &client_leaf,
        node_token,
        &["-node=c1", &servers],
    );
    let c2 = tls_agent(
        &temp.path().join("c2"),
        &ca,
        &client_leaf,
        node_token,
        &["-node=c2", &servers],
    );
    let (a1, a2) = (place_talker(&c1, "east"), place_talker(&c2, "west"));
    let (cert, key) = write_leaf(temp.path(), "cli", &ca.issue(&["cli.global.nomad"]));
    let env = |token: &str| {
        vec![
            ("NOMAD_ADDR", format!("https://{}", srv.addr)),
            ("NOMAD_CACERT", srv_dir.join("ca.pem").display().to_string()),
            ("NOMAD_CLIENT_CERT", cert.display().to_string()),
            ("NOMAD_CLIENT_KEY", key.display().to_string()),
            ("NOMAD_TOKEN", token.to_string()),
        ]
    };
    // Both nodes' lines, each tagged, once both have registered and written.
    wait_until("both allocations' lines through the server", || {
        let out = cli(&["job", "logs", "demo"], &env("secret-logs-only"));
        let text = String::from_utf8_lossy(&out.stdout);
        out.status.success()
            && text.contains(&format!("{} talk: east", &a1[..8]))
            && text.contains(&format!("{} talk: west", &a2[..8]))
    });
    // A token without read-logs gets nothing, from the server or the nodes.
    let out = cli(&["job", "logs", "demo"], &env("secret-node-read"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403 (Permission denied)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
