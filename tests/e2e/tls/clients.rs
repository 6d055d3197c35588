//! Real clients over mutual TLS: curl against every kind of endpoint, and the CLI from
//! Nomad's environment.

use super::{Ca, cli, server_leaf, start, start_with, write_leaf};

#[test]
fn curl_speaks_mutual_tls_to_every_kind_of_endpoint() {
    let ca = Ca::new("caravan test CA");
    let setup = start(&ca, &server_leaf(&ca), "  verify_https_client = true\n");
    let agent = &setup.agent;
    let (cert, key) = write_leaf(&setup.tls_dir, "curl", &ca.issue(&["cli.global.nomad"]));
    let ca_file = setup.tls_dir.join("ca.pem");
    let curl = |identity: bool, target: &str| {
        let mut command = std::process::Command::new("curl");
        command.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"]);
        command.arg(&ca_file);
        if identity {
            command.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        let out = command
            .arg(format!("https://{}{target}", agent.addr))
            .output()
            .expect("curl (Debian's curl package) must be installed");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    };
    std::fs::write(agent.alloc_dir().join("alloc/data/curl.txt"), "over tls\n").unwrap();
    let alloc = &agent.demo_alloc;
    let (status, body) = curl(true, "/v1/client/metadata");
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("\"Meta\""), "{body}");
    for (target, expect) in [
        (
            format!("/v1/client/fs/cat/{alloc}?path=alloc/data/curl.txt"),
            "over tls\n".to_string(),
        ),
        (
            format!("/v1/client/fs/readat/{alloc}?path=alloc/data/curl.txt&offset=5&limit=3"),
            "tls".to_string(),
        ),
        (
            format!("/v1/client/fs/stream/{alloc}?path=alloc/data/curl.txt&follow=false"),
            r#"{"Data":"b3ZlciB0bHMK","File":"alloc/data/curl.txt","Offset":9}"#.to_string(),
        ),
    ] {
        assert_eq!(curl(true, &target), ("200".to_string(), expect), "{target}");
    }
    let (status, body) = curl(
        true,
        &format!("/v1/client/fs/stat/{alloc}?path=alloc/data/curl.txt"),
    );
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("\"Size\":9"), "{body}");
    let (status, body) = curl(true, "/v1/client/stats");
    assert_eq!(status, "200", "{body}");
    // Without a certificate: the handshake fails, no HTTP status at all.
    assert_eq!(curl(false, "/v1/client/metadata").0, "000");
}

#[test]
fn the_cli_speaks_mutual_tls_from_nomads_environment() {
    let ca = Ca::new("caravan test CA");
    let leaf = server_leaf(&ca);
    let setup = start_with(
        &ca,
        &leaf,
        "  verify_https_client = true\n",
        &["-acl-enabled"],
    );
    let addr = &setup.agent.addr;
    let (cert, key) = write_leaf(
        &setup.tls_dir,
        "cli",
        &ca.issue(&["cli.global.nomad", "localhost"]),
    );
    let port = addr.rsplit_once(':').unwrap().1;
    let base = vec![
        ("NOMAD_ADDR", format!("https://{addr}")),
        (
            "NOMAD_CACERT",
            setup.tls_dir.join("ca.pem").display().to_string(),
        ),
        ("NOMAD_CLIENT_CERT", cert.display().to_string()),
        ("NOMAD_CLIENT_KEY", key.display().to_string()),
    ];

    // acl bootstrap over mutual TLS; its token then reads the demo allocation.
    let out = cli(&["acl", "bootstrap"], &base);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("Secret ID"))
        .map(|l| l.trim_start_matches([' ', '=']).trim().to_string())
        .unwrap_or_else(|| panic!("no Secret ID in {text}"));
    let mut with_token = base.clone();
    with_token.push(("NOMAD_TOKEN", secret.clone()));
    let out = cli(&["node", "status", "-self"], &with_token);
    assert!(out.status.success(), "{out:?}");
    let out = cli(&["alloc", "status", &setup.agent.demo_alloc], &with_token);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&setup.agent.demo_alloc[..8]));

    // The name checked is the address's host unless NOMAD_TLS_SERVER_NAME says otherwise.
    let mut by_name = with_token.clone();
    by_name[0].1 = format!("https://localhost:{port}");
    assert!(cli(&["node", "status", "-self"], &by_name).status.success());
    by_name.push(("NOMAD_TLS_SERVER_NAME", "server.global.nomad".into()));
    assert!(cli(&["node", "status", "-self"], &by_name).status.success());
    let mut wrong_name = with_token.clone();
    wrong_name.push(("NOMAD_TLS_SERVER_NAME", "client.global.nomad".into()));
    assert!(
        !cli(&["node", "status", "-self"], &wrong_name)
            .status
            .success()
    );

    // Without the client certificate the handshake fails; plain http gets nothing.
    let out = cli(&["node", "status", "-self"], &with_token[..2]);
    assert!(!out.status.success(), "{out:?}");
    let mut plain = with_token.clone();
    plain[0].1 = format!("http://{addr}");
    assert!(!cli(&["node", "status", "-self"], &plain).status.success());

    // A CA the agent's certificate does not chain to: refused, unless NOMAD_SKIP_VERIFY.
    let other = Ca::new("another CA");
    let other_ca = setup.tls_dir.join("other-ca.pem");
    std::fs::write(&other_ca, other.pem()).unwrap();
    let mut untrusted = with_token.clone();
    untrusted[1].1 = other_ca.display().to_string();
    assert!(
        !cli(&["node", "status", "-self"], &untrusted)
            .status
            .success()
    );
    untrusted.push(("NOMAD_SKIP_VERIFY", "true".into()));
    let out = cli(&["node", "status", "-self"], &untrusted);
    assert!(out.status.success(), "{out:?}");
}
