use super::*;
use crate::allocs::ClientStatus;
use crate::store::StateStore;
use crate::util::testing::wait_until;

fn registry(tmp: &std::path::Path, commands: &[&str]) -> (Registry, Vec<String>) {
    let specs = tmp.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let mut ids = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let id = format!("00000000-0000-0000-0000-00000000000{i}");
        let spec = serde_json::json!({"ID": id, "Tasks": [
            {"Name": "t", "Command": "/bin/sh", "Args": ["-c", command]}
        ]});
        std::fs::write(specs.join(format!("{i}.json")), spec.to_string()).unwrap();
        ids.push(id);
    }
    let state = Arc::new(StateStore::open(&tmp.join("client")).unwrap());
    let registry =
        Registry::open(&tmp.join("alloc"), &specs, state, Duration::from_secs(1)).unwrap();
    (registry, ids)
}

fn wait_terminal(registry: &Registry, id: &str) {
    wait_until(&format!("{id} to finish"), || {
        registry.get(id).unwrap().client_status.is_terminal()
    });
}

fn remaining(registry: &Registry) -> Vec<String> {
    registry.list().into_iter().map(|r| r.spec.id).collect()
}

#[test]
fn the_oldest_terminal_allocations_go_beyond_max_allocs() {
    let tmp = tempfile::tempdir().unwrap();
    // Each waits for its gate, and the gates open one at a time, each once the previous
    // allocation is over: age follows the index however busy the machine is.
    let gates = tmp.path().join("gates");
    std::fs::create_dir(&gates).unwrap();
    let gated: Vec<String> = (0..4)
        .map(|i| {
            let gate = gates.join(i.to_string());
            format!("while [ ! -e '{}' ]; do sleep 0.01; done", gate.display())
        })
        .collect();
    let mut commands: Vec<&str> = gated.iter().map(String::as_str).collect();
    commands.push("exec sleep 1000");
    let (registry, ids) = registry(tmp.path(), &commands);
    for (i, id) in ids[..4].iter().enumerate() {
        std::fs::write(gates.join(i.to_string()), b"").unwrap();
        wait_terminal(&registry, id);
    }
    let config = GcConfig {
        max_allocs: 3,
        ..GcConfig::default()
    };
    let calm = || (10.0, 10.0);
    assert_eq!(collect_garbage(&registry, &config, calm), 2);
    assert_eq!(remaining(&registry), ids[2..]);
    assert!(!tmp.path().join("alloc").join(&ids[0]).exists());
    assert_eq!(
        collect_garbage(&registry, &config, calm),
        0,
        "nothing more to do"
    );
    registry.shutdown(true);
}

#[test]
fn a_full_disk_collects_terminal_allocations_but_never_running_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, ids) = registry(tmp.path(), &["exit 0", "exit 1", "exec sleep 1000"]);
    wait_terminal(&registry, &ids[0]);
    wait_terminal(&registry, &ids[1]);
    assert_eq!(
        registry.get(&ids[1]).unwrap().client_status,
        ClientStatus::Failed
    );
    // The disk "frees up" after one collection.
    let mut readings = vec![(10.0, 10.0), (85.0, 10.0)];
    let config = GcConfig::default();
    let n = collect_garbage(&registry, &config, || readings.pop().unwrap());
    assert_eq!(n, 1);
    assert_eq!(remaining(&registry).len(), 2);
    // Inodes above their threshold, and they never recover: every terminal one goes.
    let n = collect_garbage(&registry, &config, || (10.0, 75.0));
    assert_eq!(n, 1);
    assert_eq!(remaining(&registry), ids[2..]);
    registry.shutdown(true);
}

#[test]
fn filesystem_usage_is_a_percentage() {
    let tmp = tempfile::tempdir().unwrap();
    let (disk, inodes) = filesystem_usage(tmp.path());
    assert!((0.0..=100.0).contains(&disk) && disk > 0.0);
    assert!((0.0..=100.0).contains(&inodes));
    assert_eq!(
        filesystem_usage(std::path::Path::new("/nonexistent/x")),
        (0.0, 0.0)
    );
}
