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
