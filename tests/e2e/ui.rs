//! The web UI as the binary serves it: `/ui/` with its policy, `/` sent there, and
//! `ui { enabled = false }`.
//! The page itself is tested in a browser (`tests/ui`, `scripts/test-ui`).

use crate::support::Agent;

#[test]
fn the_ui_is_served_with_a_strict_policy_and_can_be_turned_off() {
    let agent = Agent::start();
    let page = agent.get("/ui/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.text().contains("/ui/app.js"));
    let root = agent.get("/?region=global");
    assert_eq!(root.status, 307);
    assert_eq!(root.header("location"), Some("/ui/?region=global"));
    assert!(agent.terminate().success());

    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("agent.hcl");
    std::fs::write(&config, "ui {\n  enabled = false\n}\n").unwrap();
    let agent = Agent::start_in(
        &temp.path().join("data"),
        &[&format!("-config={}", config.display())],
    );
    let page = agent.get("/ui/");
    assert_eq!(page.status, 404);
    assert_eq!(
        page.text(),
        "the web UI is disabled (ui { enabled = false })"
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
    // Nomad sends `/` to the UI whether it is on or not.
    let root = agent.get("/");
    assert_eq!((root.status, root.header("location")), (307, Some("/ui/")));
    assert!(agent.terminate().success());
}
