//! `caravan config validate FILE...` (Nomad's command) on good and bad files, with its exact
//! output, and `caravan agent` refusing to start on the same errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn caravan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_reports_every_mistake_with_file_and_line_and_the_agent_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| std::fs::write(dir.path().join(name), content).unwrap();
    write(
        "good.hcl",
        "data_dir = \"/var/lib/caravan\"\nregion = \"eu\"\nclient {\n  meta = { rack = \"r1\" }\n}\n",
    );
    write(
        "good.json",
        r#"{"acl": {"enabled": true}, "ports": {"http": 4647}}"#,
    );
    // A typo, a wrong type, an unknown block.
    write(
        "bad.hcl",
        "data_dir = \"/x\"\nclient {\n  enabeld = true\n  gc_max_allocs = \"many\"\n}\n\
         tsl {\n  http = true\n}\n",
    );
    // Settings that are each well-formed but cannot work.
    write(
        "impossible.hcl",
        "tls {\n  http = true\n}\nlog_level = \"loud\"\n",
    );

    let out = caravan(dir.path(), &["config", "validate", "good.hcl", "good.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Warning: config file good.hcl, line 2: ignoring \"region\": a Nomad setting caravan \
         does not implement\nConfiguration is valid!\n"
    );

    let bad = "Error: 3 errors in the configuration:\n\
        \x20 config file bad.hcl, line 3: unknown key \"client.enabeld\": Nomad's agent \
        configuration has no such setting\n\
        \x20 config file bad.hcl, line 4: client.gc_max_allocs: invalid type: string \"many\", \
        expected usize\n\
        \x20 config file bad.hcl, line 6: unknown key \"tsl\": Nomad's agent configuration has \
        no such setting\n";
    let out = caravan(dir.path(), &["config", "validate", "good.hcl", "bad.hcl"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), bad);
    assert!(out.stdout.is_empty());

    let impossible = "Error: 2 errors in the configuration:\n\
        \x20 config file impossible.hcl, line 4: invalid log_level: invalid log level \"loud\": \
        expected one of TRACE, DEBUG, INFO, WARN, ERROR\n\
        \x20 config file impossible.hcl, line 2: tls.http = true needs tls.cert_file and \
        tls.key_file\n";
    let out = caravan(dir.path(), &["config", "validate", "impossible.hcl"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), impossible);

    let out = caravan(dir.path(), &["config", "validate", "missing.hcl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("Error: failed to read config file missing.hcl: "),
        "{}",
        text(&out.stderr)
    );

    // The agent refuses to start on exactly the same errors, before it touches anything.
    let data = dir.path().join("data");
    for (file, expected) in [("bad.hcl", bad), ("impossible.hcl", impossible)] {
        let config = format!("-config={file}");
        let data_dir = format!("-data-dir={}", data.display());
        let out = caravan(
            dir.path(),
            &[
                "agent",
                &config,
                &data_dir,
                "-bind=127.0.0.1",
                "-http-port=0",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        assert_eq!(text(&out.stderr), expected);
        assert!(!data.exists(), "the agent created its data dir");
    }
}
