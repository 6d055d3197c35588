//! A misbehaving core harms only its own request, and says why in the log.

use crate::support::{Agent, wait_log};

#[test]
fn a_guest_panic_is_logged_with_its_message_and_the_next_request_is_served() {
    let temp = tempfile::tempdir().unwrap();
    let core = temp.path().join("faulty.wasm");
    std::fs::write(&core, caravan::runtime::FAULTY_TEST_CORE).unwrap();
    let data = temp.path().join("data");
    let agent = Agent::start_in(&data, &[&format!("-core={}", core.display())]);
    let reply = agent.get("/panic");
    assert_eq!(reply.status, 500);
    wait_log(&agent, "deliberate panic for /panic");
    let next = agent.get("/ok");
    assert_eq!((next.status, next.text().as_str()), (200, "ok"));
    assert_eq!(next.header("x-caravan-core"), Some("faulty/0"));
}

/// Each request gets a fresh instance: whatever one leaves in the core's memory (static data,
/// heap, grown pages) is gone for the next, however the pool resets and reuses its slots, and
/// a trapped instance is not reused either.
#[test]
fn nothing_a_request_leaves_in_the_cores_memory_is_seen_by_the_next() {
    let temp = tempfile::tempdir().unwrap();
    let core = temp.path().join("faulty.wasm");
    std::fs::write(&core, caravan::runtime::FAULTY_TEST_CORE).unwrap();
    let agent = Agent::start_in(
        &temp.path().join("data"),
        &[&format!("-core={}", core.display())],
    );
    let marker = "a-marker-no-fresh-instance-holds-0123456789";
    let look = format!("/look?{marker}");
    assert_eq!(
        agent.get(&look).text(),
        "1",
        "a fresh instance holds only its own needle"
    );
    for round in 0..20 {
        assert_eq!(agent.get(&format!("/leave?{marker}")).text(), "left");
        if round % 5 == 4 {
            assert_eq!(agent.get("/panic").status, 500);
        }
        assert_eq!(
            agent.get(&look).text(),
            "1",
            "round {round}: the marker leaked"
        );
    }
}
