//! What a candidate core must pass: every kind of bad candidate is turned away with the old
//! core still serving, and a faulty core named at start harms only its own requests.

use std::sync::Arc;

use caravan::runtime::{FAULTY_TEST_CORE, START_TRAP_TEST_CORE};

use crate::support::{Agent, wait_log};

use super::{put_core, sha256, status};

/// Offer `candidate` to a fresh agent and check that it is turned away for `reason` while
/// the old core keeps answering as itself.
fn assert_rejected(candidate: &[u8], reason: &str) {
    let agent = Agent::start();
    let before = status(&agent);
    let reply = put_core(&agent, candidate);
    let text = reply.text();
    assert_eq!(reply.status, 400, "{text}");
    assert!(
        text.starts_with(&format!("core rejected: {reason}")),
        "{text}"
    );

    let after = status(&agent);
    assert_eq!(after["SHA256"], before["SHA256"]);
    assert_eq!(after["Swaps"], 0);
    let rejected = &after["LastRejected"];
    assert_eq!(rejected["SHA256"], sha256(candidate));
    assert!(
        rejected["Reason"].as_str().unwrap().starts_with(reason),
        "{rejected}"
    );
    assert!(rejected["At"].as_str().unwrap().ends_with('Z'));

    let ls = agent.get("/v1/client/fs/ls/");
    assert_eq!(
        (ls.status, ls.text().as_str()),
        (400, "must provide a valid alloc id")
    );
    assert!(
        ls.header("x-caravan-core")
            .unwrap()
            .starts_with("caravan-core/")
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
    wait_log(&agent, "rejected (admin call from 127.0.0.1:");
}

#[test]
fn a_candidate_that_is_not_wasm_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(
        b"#!/bin/sh\necho not a core\n",
        "not WebAssembly (no \\0asm header)",
    );
}

#[test]
fn a_candidate_with_the_wrong_world_is_rejected_and_the_old_core_keeps_serving() {
    // A component that exports nothing.
    assert_rejected(
        b"\0asm\x0d\0\x01\0",
        "does not export caravan:client/handler",
    );
    // A plain core module, never componentized.
    assert_rejected(b"\0asm\x01\0\0\0", "a core wasm module, not a component");
}

#[test]
fn a_candidate_that_traps_at_start_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(START_TRAP_TEST_CORE, "failed to start: ");
}

#[test]
fn a_candidate_failing_the_self_check_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(
        FAULTY_TEST_CORE,
        "failed the self-check: GET /v1/caravan/self-check/unknown-route: \
         expected 404 with an empty body, got 200 \"ok\"",
    );
}

#[test]
fn a_faulty_core_fails_only_its_own_requests() {
    let temp = tempfile::tempdir().unwrap();
    let core = temp.path().join("faulty.wasm");
    std::fs::write(&core, FAULTY_TEST_CORE).unwrap();
    let agent = Agent::start_in(
        &temp.path().join("data"),
        &[
            &format!("-core={}", core.display()),
            // Short enough that `/loop` ends soon, long enough that `/ok` never meets it on a
            // loaded machine (a 300 ms deadline once failed `/ok` under stress-ng: the
            // deadline is wall time, and a starved thread can sit out 300 ms).
            "-core-call-timeout=3s",
        ],
    );
    wait_log(&agent, "serving it anyway because it was named at start-up");
    let agent = Arc::new(agent);
    for path in ["/panic", "/loop", "/grow"] {
        let faulty = {
            let agent = agent.clone();
            std::thread::spawn(move || agent.get(path))
        };
        // Other requests are served meanwhile, whatever the faulty one is doing.
        let during = agent.get("/ok");
        assert_eq!((during.status, during.text().as_str()), (200, "ok"));
        // The faulty request is answered (`get` would give up on a hang), with a 500; that
        // `/loop` was stopped by the call deadline is what the log says below.
        let reply = faulty.join().unwrap();
        assert_eq!(reply.status, 500, "{path}");
        assert_eq!(
            reply.text(),
            "internal error: the core failed on this request"
        );
        let next = agent.get("/ok");
        assert_eq!((next.status, next.text().as_str()), (200, "ok"));
    }
    wait_log(&agent, "GET /grow from");
    let log = agent.log();
    assert!(log.contains("deliberate panic for /panic"), "{log}");
    assert!(
        log.contains("GET /loop from") && log.contains("stopped at the call deadline (3s)"),
        "{log}"
    );
}
