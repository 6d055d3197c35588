//! Hot swap in every mode: the self-check checks the core, not the agent's ACLs or roles,
//! so the served core (and a variant of it) swaps with ACLs on and on a server-only agent,
//! and the core named at start passes the self-check there too.

use std::process::{Command, Output};

use caravan::runtime::DEFAULT_CORE;

use crate::acl::write_acl_files;
use crate::hotswap::{sha256, variant};
use crate::support::{Agent, wait_log};

/// `caravan core swap FILE` against `agent`, with `token` as `NOMAD_TOKEN` if any.
fn core_swap(agent: &Agent, core: &[u8], token: Option<&str>) -> Output {
    let file = agent.data_dir.join("candidate.wasm");
    std::fs::write(&file, core).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command
        .args(["core", "swap", file.to_str().unwrap()])
        .env("NOMAD_ADDR", format!("http://{}", agent.addr))
        .env_remove("NOMAD_TOKEN");
    if let Some(token) = token {
        command.env("NOMAD_TOKEN", token);
    }
    command.output().unwrap()
}

/// The start-up self-check passed (its verdict is logged before the load line), the served
/// core swaps as unchanged and a variant as swapped, with a management token when ACLs are on.
fn swaps_in_this_mode(agent: &Agent, token: Option<&str>) {
    wait_log(agent, "loaded (sha256");
    assert!(
        !agent.log().contains("self-check"),
        "the start-up self-check failed:\n{}",
        agent.log()
    );
    let out = core_swap(agent, DEFAULT_CORE, token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let serving = format!("(sha256 {}); swaps since start: 0", sha256(DEFAULT_CORE));
    assert!(stdout.contains(&serving), "{stdout}");

    let other = variant(DEFAULT_CORE, "modes");
    let out = core_swap(agent, &other, token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let serving = format!("(sha256 {}); swaps since start: 1", sha256(&other));
    assert!(stdout.contains(&serving), "{stdout}");
}

#[test]
fn the_served_core_swaps_with_acls_on() {
    let temp = tempfile::tempdir().unwrap();
    write_acl_files(temp.path());
    let agent = Agent::start_in(temp.path(), &["-acl-enabled"]);
    // Without a token the swap is refused, so ACLs are on.
    let out = core_swap(&agent, DEFAULT_CORE, None);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
    swaps_in_this_mode(&agent, Some("secret-management"));
}

#[test]
fn the_served_core_swaps_on_a_server_only_agent() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::spawn(temp.path(), &["-server", "-node=server"]);
    swaps_in_this_mode(&agent, None);
}

#[test]
fn the_served_core_swaps_on_a_server_only_agent_with_acls_on() {
    let temp = tempfile::tempdir().unwrap();
    write_acl_files(temp.path());
    let agent = Agent::spawn(temp.path(), &["-server", "-node=server", "-acl-enabled"]);
    swaps_in_this_mode(&agent, Some("secret-management"));
}
