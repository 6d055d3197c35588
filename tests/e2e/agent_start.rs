//! What an agent tells a new user as it starts: one warning per ignored Nomad setting
//! (after the log is set up, so that it shows).

use crate::support::{Agent, wait_log};

/// Nomad settings caravan ignores are each named once on stderr, at the default level.
#[test]
fn ignored_nomad_settings_are_each_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.hcl");
    std::fs::write(
        &config,
        "region = \"europe\"\nlog_file = \"/var/log/nomad.log\"\n\
         telemetry {\n  collection_interval = \"1s\"\n}\n\
         client {\n  options = { \"driver.raw_exec.enable\" = \"1\" }\n}\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let agent = Agent::spawn(&data, &[&format!("-config={}", config.display())]);
    // Logged after the warnings, on the same stream: once it shows, they all have.
    wait_log(&agent, "loaded (sha256");
    let log = agent.log();
    for (key, line) in [
        ("region", 1),
        ("log_file", 2),
        ("telemetry", 3),
        ("client.options", 7),
    ] {
        let warning = format!(
            "config file {}, line {line}: ignoring {key:?}: a Nomad setting caravan does not implement",
            config.display()
        );
        assert_eq!(log.matches(&warning).count(), 1, "{warning}\nin\n{log}");
    }
    assert_eq!(log.matches("ignoring").count(), 4, "{log}");
}
