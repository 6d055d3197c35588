//! Nomad's global flags (`-address`, `-token`, `-namespace`, `-region`, `-ca-cert`,
//! `-client-cert`, `-client-key`, `-tls-server-name`, `-tls-skip-verify`) on the commands
//! that talk to an agent, each winning over its `NOMAD_*` variable, as `nomad` takes them.

use crate::support::{Agent, wait_until};
use crate::tls::{Ca, cli, server_leaf, start_with, write_leaf};

/// The Secret ID in `acl bootstrap`'s output.
fn secret_of(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Secret ID"))
        .map(|l| l.trim_start_matches([' ', '=']).trim().to_string())
        .unwrap_or_else(|| panic!("no Secret ID in {text}"))
}

/// An environment that points at nothing, with a token that is wrong: the flags must win.
fn misleading_env() -> Vec<(&'static str, String)> {
    vec![
        ("NOMAD_ADDR", "http://127.0.0.1:1".into()),
        ("NOMAD_TOKEN", "00000000-0000-0000-0000-000000000000".into()),
        ("NOMAD_NAMESPACE", "elsewhere".into()),
    ]
}

#[test]
fn address_token_and_namespace_flags_win_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path(), &["-acl-enabled"]);
    let alloc = agent.demo_alloc.clone();
    let address = format!("-address=http://{}", agent.addr);
    let env = misleading_env();
    let out = cli(&["acl", "bootstrap", &address], &env);
    assert!(out.status.success(), "{out:?}");
    let token = format!("-token={}", secret_of(&out));
    let prefix = &alloc[..8];
    // (Anonymous reads are refused under ACLs: the wait goes through the flags too.)
    wait_until("the demo task to run", || {
        let out = cli(&["alloc", "status", &address, &token, &alloc], &[]);
        String::from_utf8_lossy(&out.stdout).contains("Task \"demo\" is \"running\"")
    });

    // The environment alone reaches nothing.
    assert!(!cli(&["alloc", "status", prefix], &env).status.success());
    // Flags anywhere among the command's own, prefix lookup in the flag's namespace.
    let out = cli(
        &[
            "alloc",
            "status",
            &address,
            prefix,
            &token,
            "-namespace=default",
        ],
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&alloc));
    // NOMAD_NAMESPACE=elsewhere, unless the flag says otherwise: nothing there.
    let out = cli(&["alloc", "status", &address, &token, prefix], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains("No allocation(s) with prefix"), "{stderr}");
    // Without a token (the flag's, or the environment's wrong one) the agent refuses.
    let out = cli(&["node", "status", "-self", &address], &env);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
    for command in [
        &["node", "status", "-self"][..],
        &["node", "meta", "read"],
        &["alloc", "logs", "-tail", "-n", "1"],
        &["alloc", "fs"],
        &["system", "gc"],
    ] {
        let mut args = command.to_vec();
        args.extend([&address, &token, "-region=global"]);
        if command[0] == "alloc" {
            args.push(&alloc);
        }
        let out = cli(&args, &env);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    // A bad address is named as the flag's.
    let out = cli(&["node", "status", "-address=127.0.0.1:4646"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-address or NOMAD_ADDR"), "{stderr}");
}

/// Mutual TLS from flags alone, over an environment that says plain HTTP; `-tls-skip-verify`
/// and `-tls-server-name` as NOMAD_SKIP_VERIFY and NOMAD_TLS_SERVER_NAME.
#[test]
fn tls_flags_win_over_the_environment() {
    let ca = Ca::new("caravan test CA");
    let setup = start_with(
        &ca,
        &server_leaf(&ca),
        "  verify_https_client = true\n",
        &[],
    );
    let addr = &setup.agent.addr;
    let port = addr.rsplit_once(':').unwrap().1;
    let (cert, key) = write_leaf(&setup.tls_dir, "cli", &ca.issue(&["cli.global.nomad"]));
    let ca_cert = setup.tls_dir.join("ca.pem");
    let flags = [
        format!("-address=https://{addr}"),
        format!("-ca-cert={}", ca_cert.display()),
        format!("-client-cert={}", cert.display()),
        format!("-client-key={}", key.display()),
    ];
    let run = |extra: &[&str], env: &[(&str, String)]| {
        let mut args = vec!["node", "status", "-self"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        cli(&args, env)
    };
    let env = misleading_env();
    let out = run(&[], &env);
    assert!(out.status.success(), "{out:?}");
    // Without the client certificate's flags, the handshake fails.
    let out = cli(&["node", "status", "-self", &flags[0], &flags[1]], &env);
    assert!(!out.status.success(), "{out:?}");

    // The name checked is the address's host, or -tls-server-name's (over the variable's).
    let by_name = format!("-address=https://localhost:{port}");
    let mut wrong_name = env.clone();
    wrong_name.push(("NOMAD_TLS_SERVER_NAME", "client.global.nomad".into()));
    assert!(!run(&[], &wrong_name).status.success());
    let out = run(&["-tls-server-name=server.global.nomad"], &wrong_name);
    assert!(out.status.success(), "{out:?}");
    assert!(run(&[&by_name], &env).status.success());

    // A CA the agent's certificate does not chain to: refused unless -tls-skip-verify, and
    // -tls-skip-verify=false wins over NOMAD_SKIP_VERIFY=true.
    let other = setup.tls_dir.join("other-ca.pem");
    std::fs::write(&other, Ca::new("another CA").pem()).unwrap();
    let untrusted = format!("-ca-cert={}", other.display());
    assert!(!run(&[&untrusted], &env).status.success());
    let out = run(&[&untrusted, "-tls-skip-verify"], &env);
    assert!(out.status.success(), "{out:?}");
    let mut skip = env.clone();
    skip.push(("NOMAD_SKIP_VERIFY", "true".into()));
    assert!(run(&[&untrusted], &skip).status.success());
    assert!(
        !run(&[&untrusted, "-tls-skip-verify=false"], &skip)
            .status
            .success()
    );
}
