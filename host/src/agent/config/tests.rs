use super::*;

#[test]
fn parses_nomad_shaped_hcl() {
    let config: FileConfig = hcl::from_str(
        r#"
            data_dir  = "/var/lib/caravan"
            bind_addr = "127.0.0.1"
            ports { http = 5656 }
            client {
              meta {
                rack = "r1"
              }
              allocations_dir = "/etc/caravan/allocs"
            }
            acl { enabled = false }
            "#,
    )
    .unwrap();
    assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/caravan")));
    assert_eq!(
        config.http_addr().unwrap(),
        "127.0.0.1:5656".parse().unwrap()
    );
    assert_eq!(config.client.meta["rack"], "r1");
    let dotted: FileConfig =
        hcl::from_str("client {\n meta = { \"zone.name\" = \"a\" }\n}").unwrap();
    assert_eq!(dotted.client.meta["zone.name"], "a");
    assert_eq!(
        config.client.allocations_dir,
        Some(PathBuf::from("/etc/caravan/allocs"))
    );
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../../../README.md");
    let start = readme.find("```hcl\n").unwrap() + 7;
    let end = start + readme[start..].find("```").unwrap();
    let config: FileConfig = hcl::from_str(&readme[start..end]).unwrap();
    assert_eq!(config.client.meta["zone.name"], "a");
    assert_eq!(config.client.servers, ["10.0.0.1:4646"]);
    assert!(config.acl.enabled);
    assert_eq!(config.log_level.as_deref(), Some("INFO"));
}

#[test]
fn log_level_as_nomad_spells_it() {
    let config: FileConfig = hcl::from_str("log_level = \"debug\"").unwrap();
    assert_eq!(config.log_level.as_deref(), Some("debug"));
    config.check().unwrap();
    let json: FileConfig = serde_json::from_str(r#"{"log_level": "WARN"}"#).unwrap();
    let mut merged = config;
    merged.merge(json);
    assert_eq!(merged.log_level.as_deref(), Some("WARN"));
    let bad: FileConfig = hcl::from_str("log_level = \"chatty\"").unwrap();
    assert!(bad.check().is_err());
}

#[test]
fn ui_block_is_on_unless_disabled_and_later_files_win() {
    let mut config = FileConfig::default();
    assert!(config.ui.enabled());
    config.merge(hcl::from_str("ui {\n enabled = false\n}").unwrap());
    assert!(!config.ui.enabled());
    config.merge(FileConfig::default());
    assert!(!config.ui.enabled());
    assert!(hcl::from_str::<FileConfig>("ui {\n enabeld = false\n}").is_err());
}

#[test]
fn node_token_is_read_and_merged() {
    let other: FileConfig = hcl::from_str("client {\n node_token = \"s3cret\"\n}").unwrap();
    let mut config = FileConfig::default();
    config.merge(other);
    assert_eq!(config.client.node_token.as_deref(), Some("s3cret"));
}

#[test]
fn acl_block() {
    let config: FileConfig = hcl::from_str("acl {\n enabled = true\n}").unwrap();
    assert!(config.acl.enabled);
}

#[test]
fn gc_knobs_default_to_nomads_and_are_checked() {
    let defaults = FileConfig::default().client.gc().unwrap();
    assert_eq!(defaults, GcConfig::default());
    assert_eq!(defaults.interval, std::time::Duration::from_secs(60));
    assert_eq!(
        (
            defaults.max_allocs,
            defaults.disk_usage_threshold,
            defaults.inode_usage_threshold
        ),
        (50, 80.0, 70.0)
    );
    let config: FileConfig = hcl::from_str(
            "client {\n gc_interval = \"1m30s\"\n gc_max_allocs = 3\n gc_disk_usage_threshold = 90\n gc_inode_usage_threshold = 65.5\n}",
        )
        .unwrap();
    let gc = config.client.gc().unwrap();
    assert_eq!(gc.interval, std::time::Duration::from_secs(90));
    assert_eq!(
        (
            gc.max_allocs,
            gc.disk_usage_threshold,
            gc.inode_usage_threshold
        ),
        (3, 90.0, 65.5)
    );
    for bad in [
        "client {\n gc_interval = \"soon\"\n}",
        "client {\n gc_interval = \"0s\"\n}",
        "client {\n gc_disk_usage_threshold = 101\n}",
        "client {\n gc_inode_usage_threshold = -1\n}",
    ] {
        let config: FileConfig = hcl::from_str(bad).unwrap();
        assert!(config.client.gc().is_err(), "{bad}");
    }
}

#[test]
fn the_core_call_timeout_is_a_go_duration() {
    let config: FileConfig = hcl::from_str("core {\n call_timeout = \"1m30s\"\n}").unwrap();
    assert_eq!(
        config.call_timeout().unwrap(),
        Some(Duration::from_secs(90))
    );
    let bad: FileConfig = hcl::from_str("core {\n call_timeout = \"soon\"\n}").unwrap();
    assert!(bad.check().is_err());
    let tiny: FileConfig = hcl::from_str("core {\n call_timeout = \"1ms\"\n}").unwrap();
    assert!(tiny.check().is_err());
    assert_eq!(FileConfig::default().call_timeout().unwrap(), None);
}

#[test]
fn tls_block_and_handshake_timeout() {
    let config: FileConfig = hcl::from_str(
            "tls {\n http = true\n ca_file = \"ca.pem\"\n cert_file = \"c.pem\"\n key_file = \"k.pem\"\n verify_https_client = true\n}\nlimits {\n https_handshake_timeout = \"0\"\n}",
        )
        .unwrap();
    assert!(config.tls.http && config.tls.verify_https_client);
    config.check().unwrap();
    assert_eq!(config.limits.handshake_timeout().unwrap(), None);
    assert_eq!(
        FileConfig::default().limits.handshake_timeout().unwrap(),
        Some(Duration::from_secs(5))
    );
    for bad in [
        "tls {\n http = true\n}",
        "tls {\n http = true\n cert_file = \"c\"\n key_file = \"k\"\n verify_https_client = true\n}",
        "tls {\n http = true\n cert_file = \"c\"\n key_file = \"k\"\n tls_min_version = \"tls10\"\n}",
        "limits {\n https_handshake_timeout = \"soon\"\n}",
    ] {
        let config: FileConfig = hcl::from_str(bad).unwrap();
        assert!(config.check().is_err(), "{bad}");
    }
}

#[test]
fn log_level_and_ui_pass_the_key_check_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.hcl");
    std::fs::write(&path, "log_level = \"WARN\"\nui {\n  enabled = false\n}\n").unwrap();
    let parsed = FileConfig::load(&path).unwrap();
    let (config, warnings) = (parsed.config, parsed.warnings);
    assert_eq!(config.log_level.as_deref(), Some("WARN"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!config.ui.enabled());
}
