//! Key checks: misspelt keys refused with file and line, Nomad-only keys warned about.
use super::*;
use crate::agent::config::FileConfig;

fn hcl(text: &str) -> Result<Parsed<FileConfig>> {
    parse(Path::new("agent.hcl"), text, false)
}

#[test]
fn a_misspelt_key_is_refused_with_file_line_and_key() {
    for (text, key, line) in [
        ("tsl {\n http = true\n}", "\"tsl\"", 1),
        (
            "data_dir = \"/x\"\nclient {\n enabeld = true\n}",
            "\"client.enabeld\"",
            3,
        ),
        ("acl {\n enabeld = true\n}", "\"acl.enabeld\"", 2),
        ("client {\n servrs = [\"a:1\"]\n}", "\"client.servrs\"", 2),
        ("data_dri = \"/tmp\"", "\"data_dri\"", 1),
        ("ports {\n htp = 1\n}", "\"ports.htp\"", 2),
        (
            "tls {\n http = true\n verify_https_clients = true\n}",
            "\"tls.verify_https_clients\"",
            3,
        ),
        ("client = {\n enabeld = true\n}", "\"client.enabeld\"", 2),
    ] {
        let err = hcl(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?}: {err}");
        assert!(
            err.contains(&format!("agent.hcl, line {line}:")),
            "{text:?}: {err}"
        );
    }
    let json = parse::<FileConfig>(Path::new("a.json"), r#"{"acl": {"enabeld": true}}"#, true);
    let err = json.unwrap_err().to_string();
    assert!(
        err.contains("a.json") && err.contains("\"acl.enabeld\""),
        "{err}"
    );
}

#[test]
fn a_wrong_type_is_refused_and_named() {
    let err = hcl("x = 1\nclient {\n enabled = \"yes\"\n}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"x\""), "{err}");
    let err = hcl("\nclient {\n enabled = \"yes\"\n}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("client.enabled"),
        "{err}"
    );
    let err = hcl("tls {\n http = \"on\"\n}").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("tls.http"), "{err}");
    let err = hcl("ports {\n http = \"x\"\n}").unwrap_err().to_string();
    assert!(err.contains("ports.http"), "{err}");
}

#[test]
fn nomad_settings_caravan_ignores_load_with_one_warning_each() {
    let parsed = hcl(
        "region = \"x\"\nplugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n\
         plugin \"docker\" {\n config {\n  volumes { enabled = true }\n }\n}\n\
         telemetry {\n prometheus_metrics = true\n}\nconsul {\n address = \"a:8500\"\n}\n\
         vault {\n enabled = false\n}\nclient {\n enabled = true\n options = {\n \"driver.allowlist\" = \"exec\"\n }\n\
         host_volume \"data\" {\n path = \"/srv\"\n }\n}\nlog_file = \"/var/log/nomad\"\n\
         tls {\n http = false\n rpc = true\n}\n",
    )
    .unwrap();
    assert_eq!(parsed.config.client.enabled, Some(true));
    let expected = [
        ("region", 1),
        ("plugin", 2),
        ("telemetry", 12),
        ("consul", 15),
        ("vault", 18),
        ("client.options", 23),
        ("client.host_volume", 26),
        ("log_file", 30),
        ("tls.rpc", 33),
    ];
    assert_eq!(
        parsed.warnings.len(),
        expected.len(),
        "{:#?}",
        parsed.warnings
    );
    for (key, line) in expected {
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.contains(&format!("line {line}: ignoring \"{key}\""))),
            "{key} at {line}: {:#?}",
            parsed.warnings
        );
    }
    let json = parse::<FileConfig>(
        Path::new("a.json"),
        r#"{"region": "x", "client": {"enabled": true, "node_class": "c"}}"#,
        true,
    )
    .unwrap();
    assert_eq!(json.warnings.len(), 2, "{:?}", json.warnings);
}

#[test]
fn the_etcd_registry_is_configured_in_the_server_block() {
    let parsed = hcl(
        "server {\n enabled = true\n registry = \"etcd\"\n etcd {\n  endpoints = [\"127.0.0.1:2379\", \"https://10.0.0.2:2379\"]\n  prefix = \"/c/\"\n  ca_file = \"/ca.pem\"\n  cert_file = \"/c.pem\"\n  key_file = \"/k.pem\"\n  username = \"u\"\n  password = \"p\"\n }\n}",
    )
    .unwrap();
    let etcd = parsed.config.server.etcd_registry().unwrap().unwrap();
    assert_eq!(etcd.endpoints, ["127.0.0.1:2379", "https://10.0.0.2:2379"]);
    assert_eq!(etcd.prefix.as_deref(), Some("/c/"));
    assert_eq!(etcd.username.as_deref(), Some("u"));
    assert!(parsed.warnings.is_empty());
    // The default is the in-memory registry.
    let plain = hcl("server {\n enabled = true\n}").unwrap();
    assert!(plain.config.server.etcd_registry().unwrap().is_none());
    // Unknown keys and wrong types are refused; incomplete settings too.
    let err = hcl("server {\n etcd {\n  endpoint = [\"a:1\"]\n }\n}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"server.etcd.endpoint\"") && err.contains("line 3"),
        "{err}"
    );
    let err = hcl("server {\n etcd {\n  endpoints = 5\n }\n}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.etcd.endpoints"), "{err}");
    for (text, needle) in [
        (
            "server {\n registry = \"etcd\"\n}",
            "needs server.etcd.endpoints",
        ),
        (
            "server {\n registry = \"raft\"\n}",
            "expected \"memory\" or \"etcd\"",
        ),
        (
            "server {\n registry = \"etcd\"\n etcd {\n  endpoints = [\"a:1\"]\n  cert_file = \"/c\"\n }\n}",
            "go together",
        ),
    ] {
        let config = hcl(text).unwrap().config;
        let err = config.server.etcd_registry().unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

/// Every key path of `section` under `prefix`: those caravan reads (leaves and maps), and
/// the Nomad keys it ignores.
fn schema_keys(section: &Section, prefix: &str, read: &mut Vec<String>, ignored: &mut Vec<String>) {
    for (key, kind) in section.keys {
        let path = join(prefix, key);
        match kind {
            Kind::Section(sub) => schema_keys(sub, &path, read, ignored),
            Kind::Value | Kind::Map => read.push(path),
        }
    }
    ignored.extend(section.nomad_only.iter().map(|key| join(prefix, key)));
}

/// docs/configuration.md lists exactly the keys the parser reads (its table's first column)
/// and those it ignores (its list, one line per section).
#[test]
fn the_configuration_reference_lists_every_key_the_parser_accepts() {
    const DOC: &str = include_str!("../../../../docs/configuration.md");
    let (mut read, mut ignored) = (Vec::new(), Vec::new());
    schema_keys(&TOP, "", &mut read, &mut ignored);
    let documented: Vec<String> = DOC
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(key, _)| key.to_string())
        .collect();
    let ignored_part = DOC
        .split_once("## Nomad keys caravan ignores")
        .expect("the ignored keys' heading")
        .1;
    let mut documented_ignored = Vec::new();
    let mut prefix = String::new();
    for line in ignored_part.lines() {
        // `- section: keys, ...`, continued on indented lines.
        let items = if let Some(item) = line.strip_prefix("- ") {
            let (section, rest) = item.split_once(": ").expect("- section: keys");
            prefix = section.trim_matches('`').replace("top level", "");
            rest
        } else if line.starts_with("  ") {
            line
        } else {
            continue;
        };
        for key in items.split(", ").map(|k| k.trim().trim_end_matches(',')) {
            if let Some(key) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
                documented_ignored.push(join(&prefix, key));
            }
        }
    }
    for (what, doc, parser) in [
        ("the keys caravan reads", documented, read),
        (
            "the Nomad keys caravan ignores",
            documented_ignored,
            ignored,
        ),
    ] {
        let not_documented: Vec<&String> = parser.iter().filter(|k| !doc.contains(k)).collect();
        let not_parsed: Vec<&String> = doc.iter().filter(|k| !parser.contains(k)).collect();
        assert!(
            not_documented.is_empty() && not_parsed.is_empty() && doc.len() == parser.len(),
            "{what}: not in docs/configuration.md: {not_documented:?}; documented but not \
             in config_schema.rs: {not_parsed:?}"
        );
    }
}

/// A file's every mistake, in its order: unknown keys and blocks, and every wrong type.
#[test]
fn every_error_of_a_file_is_reported_with_its_line() {
    let err = hcl(
        "data_dir = \"/x\"\nclient {\n  enabeld = true\n  gc_max_allocs = \"many\"\n}\n\
         tsl {\n  http = true\n}\nports { http = \"no\" }\n",
    )
    .unwrap_err();
    let Invalid(errors) = err.downcast::<Invalid>().unwrap();
    assert_eq!(
        errors,
        [
            "config file agent.hcl, line 3: unknown key \"client.enabeld\": Nomad's agent \
             configuration has no such setting",
            "config file agent.hcl, line 4: client.gc_max_allocs: invalid type: string \
             \"many\", expected usize",
            "config file agent.hcl, line 6: unknown key \"tsl\": Nomad's agent configuration \
             has no such setting",
            "config file agent.hcl, line 9: ports.http: invalid type: string \"no\", expected u16",
        ]
    );
    let shown = Invalid(errors).to_string();
    assert!(
        shown.starts_with("4 errors in the configuration:\n  config file"),
        "{shown}"
    );
}
