//! Each swap trigger: the core route, the watched core file (rename and in-place write),
//! SIGHUP, and the CLI's `core check` and `core swap`.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use caravan::runtime::{DEFAULT_CORE, FAULTY_TEST_CORE, START_TRAP_TEST_CORE};

use crate::support::{Agent, wait_log, wait_until};

use super::{
    caravan, put_core, replace_atomically, serving, sha256, start_watched, status, variant,
};

#[test]
fn the_core_route_reports_the_active_core_in_nomad_style() {
    let agent = Agent::start();
    let reply = agent.get("/v1/agent/core");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["LastRejected", "LoadedAt", "SHA256", "Swaps", "Version"]
    );
    assert_eq!(body["SHA256"], sha256(DEFAULT_CORE));
    assert_eq!(body["Version"], reply.header("x-caravan-core").unwrap());
    assert_eq!(body["Swaps"], 0);
    assert!(body["LastRejected"].is_null());
    let loaded_at = body["LoadedAt"].as_str().unwrap();
    assert!(
        loaded_at.len() > 20 && loaded_at.as_bytes()[10] == b'T' && loaded_at.ends_with('Z'),
        "{loaded_at}"
    );
    let delete = agent.request("DELETE", "/v1/agent/core", &[], b"");
    assert_eq!(
        (delete.status, delete.text().as_str()),
        (405, "Invalid method")
    );
}

#[test]
fn the_core_file_swaps_on_rename_and_in_place_write_and_sighup_reloads_it() {
    let (a, b) = (DEFAULT_CORE, variant(DEFAULT_CORE, "b"));
    let watched = start_watched(a, &[]);
    let agent = &watched.agent;

    replace_atomically(&watched.core_file, &b);
    wait_until("core b to serve", || serving(agent) == sha256(&b));
    wait_log(agent, "core swapped (the core file changed)");

    // In place, in two writes with a pause between them, as a slow copy does.
    {
        let mut file = File::create(&watched.core_file).unwrap();
        file.write_all(&a[..a.len() / 2]).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        file.write_all(&a[a.len() / 2..]).unwrap();
    }
    wait_until("core a to serve", || serving(agent) == sha256(a));

    // After an admin swap, SIGHUP returns to what the file holds.
    assert_eq!(put_core(agent, &b).status, 200);
    assert_eq!(serving(agent), sha256(&b));
    agent.signal(rustix::process::Signal::HUP);
    wait_until("core a to serve", || serving(agent) == sha256(a));
    wait_log(agent, "core swapped (SIGHUP)");

    // A broken file is rejected; the core it was meant to replace keeps serving.
    replace_atomically(&watched.core_file, b"oops");
    wait_until("a rejection", || !status(agent)["LastRejected"].is_null());
    let now = status(agent);
    assert_eq!(now["SHA256"], sha256(a));
    assert_eq!(
        now["LastRejected"]["Reason"],
        "not WebAssembly (no \\0asm header)"
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);

    // So does a file that disappears. The watcher takes no action on a removal (and says
    // nothing); a reload asked for then finds no file and says it keeps serving, which the
    // test waits for rather than waiting a while to see that nothing changed.
    let logged = agent.log().len();
    std::fs::remove_file(&watched.core_file).unwrap();
    agent.signal(rustix::process::Signal::HUP);
    wait_until("the agent to keep serving without the file", || {
        agent.log()[logged..].lines().any(|line| {
            line.contains("core reload (SIGHUP): failed to open core ")
                && line.contains("; still serving ")
        })
    });
    assert_eq!(serving(agent), sha256(a));
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}

#[test]
fn sighup_without_a_core_file_returns_to_the_built_in_core() {
    let agent = Agent::start();
    let built_in = serving(&agent);
    let other = variant(DEFAULT_CORE, "other");
    assert_eq!(put_core(&agent, &other).status, 200);
    assert_eq!(serving(&agent), sha256(&other));
    agent.signal(rustix::process::Signal::HUP);
    wait_until("the built-in core to serve", || serving(&agent) == built_in);
    assert_eq!(status(&agent)["Swaps"], 2);

    // With the built-in core already serving, SIGHUP re-checks it and changes nothing.
    agent.signal(rustix::process::Signal::HUP);
    wait_log(&agent, "re-checked (SIGHUP): unchanged");
    assert_eq!(status(&agent)["Swaps"], 2);
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}

#[test]
fn core_check_prints_the_verdict_and_exits_non_zero_on_rejection() {
    let temp = tempfile::tempdir().unwrap();
    let (good, bad) = (temp.path().join("good.wasm"), temp.path().join("bad.wasm"));
    std::fs::write(&good, DEFAULT_CORE).unwrap();
    std::fs::write(&bad, FAULTY_TEST_CORE).unwrap();

    let out = caravan(&["core", "check", good.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains(": ok: core caravan-core/"), "{stdout}");
    assert!(stdout.contains(&sha256(DEFAULT_CORE)), "{stdout}");

    let out = caravan(&["core", "check", bad.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout.contains(": rejected (sha256 ") && stdout.contains("failed the self-check"),
        "{stdout}"
    );
}

#[test]
fn core_swap_reports_a_rejection_and_fails() {
    let agent = Agent::start();
    let temp = tempfile::tempdir().unwrap();
    let bad = temp.path().join("bad.wasm");
    std::fs::write(&bad, START_TRAP_TEST_CORE).unwrap();
    let out = caravan(
        &["core", "swap", bad.to_str().unwrap()],
        Some(&format!("http://{}", agent.addr)),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains("refused the core (400 Bad Request): core rejected: failed to start"),
        "{stderr}"
    );
    assert_eq!(serving(&agent), sha256(DEFAULT_CORE));
}
