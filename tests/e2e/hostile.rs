//! Regression tests for hostile or unlucky input found by the fault battery (issue 13).

use crate::support::Agent;

/// `readat`, `stream` and `cat` with offsets at the end of the 63-bit offset space are past
/// the end of any file: an empty answer, never a 500 and never Rust debug text.
#[test]
fn offsets_near_two_to_the_63_are_past_the_end() {
    let agent = Agent::start();
    let alloc = &agent.demo_alloc;
    let path = "demo/local/index.html";
    for offset in [
        i64::MAX as u64 - 1,
        i64::MAX as u64,
        (1u64 << 63) - 512,
        1u64 << 62,
    ] {
        let reply = agent.get(&format!(
            "/v1/client/fs/readat/{alloc}?path={path}&offset={offset}&limit=512"
        ));
        assert_eq!(reply.status, 200, "readat offset {offset}: {}", reply.text());
        assert!(reply.body.is_empty(), "readat offset {offset}");

        let reply = agent.get(&format!(
            "/v1/client/fs/stream/{alloc}?path={path}&offset={offset}&follow=false"
        ));
        assert_eq!(reply.status, 200, "stream offset {offset}: {}", reply.text());
        let text = reply.text();
        assert!(!text.contains("Io("), "no debug formatting: {text}");
        assert!(!text.contains("invalid argument"), "{text}");
    }
}
