//! The web UI as the binary serves it: `/ui/` with its policy, `/` sent there, its caching
//! (a versioned file kept for good, the page revalidated with a 304), and `ui { enabled = false }`.
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

#[test]
fn the_page_revalidates_and_its_versioned_files_are_kept_for_good() {
    let agent = Agent::start();
    let page = agent.get("/ui/");
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let etag = page
        .header("etag")
        .expect("the page has an ETag")
        .to_string();
    let again = agent.request("GET", "/ui/", &[("If-None-Match", &etag)], b"");
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    // The page names its script under the UI's version.
    let text = page.text();
    let start = text.find("src=\"/ui/").unwrap() + "src=\"".len();
    let script = &text[start..start + text[start..].find('"').unwrap()];
    assert!(
        script.ends_with("/app.js") && script != "/ui/app.js",
        "{script}"
    );
    let app = agent.get(script);
    assert_eq!(app.status, 200);
    assert_eq!(
        app.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let tag = app.header("etag").unwrap().to_string();
    let cached = agent.request("GET", script, &[("If-None-Match", &tag)], b"");
    assert_eq!((cached.status, cached.body.len()), (304, 0));
    assert!(agent.terminate().success());
}
