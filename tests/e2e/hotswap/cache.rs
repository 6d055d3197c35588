//! The compiled-core cache: a restart loads from it, and a forged entry is refused.

use std::path::{Path, PathBuf};

use caravan::runtime::DEFAULT_CORE;

use crate::support::{Agent, wait_log};

use super::sha256;

fn cache_entries(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("core-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn a_restart_loads_the_core_from_the_compiled_cache_and_refuses_a_forged_entry() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");

    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    assert!(agent.log().contains("compiled in"), "{}", agent.log());
    assert!(agent.terminate().success());
    let entries = cache_entries(&data);
    assert_eq!(entries.len(), 1);
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with(&format!("{}-", sha256(DEFAULT_CORE))),
        "{name}"
    );

    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    assert!(
        agent.log().contains("from the compiled cache"),
        "{}",
        agent.log()
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
    assert!(agent.terminate().success());

    // One flipped bit: the entry is no longer what the agent wrote, so it is not loaded.
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&entries[0], bytes).unwrap();
    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    let log = agent.log();
    assert!(
        log.contains("was not written by this agent or is damaged"),
        "{log}"
    );
    assert!(log.contains("compiled in"), "{log}");
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}
