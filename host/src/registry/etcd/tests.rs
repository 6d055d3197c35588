use super::*;
use crate::wit::allocations::{ClientStatus, TaskState, TaskStatus};
use crate::wit::types::Timestamp;

#[test]
fn a_registration_round_trips_through_its_stored_form() {
    let allocation = Allocation {
        id: "a1".into(),
        namespace: "default".into(),
        job_id: "j".into(),
        task_group: "g".into(),
        client_status: ClientStatus::Running,
        tasks: vec![TaskState {
            name: "web".into(),
            state: TaskStatus::Running,
            failed: false,
            started_at: Some(Timestamp {
                seconds: 5,
                nanoseconds: 7,
            }),
            finished_at: None,
            restarts: 2,
            last_restart: None,
        }],
    };
    let node = NodeRecord {
        id: "n1".into(),
        name: "one".into(),
        datacenter: "dc1".into(),
        http_addr: "127.0.0.1:1".into(),
        static_meta: Default::default(),
        dynamic_meta: Default::default(),
    };
    let seen = UNIX_EPOCH + Duration::from_millis(1_234_567);
    let bytes = encode(
        &node,
        std::slice::from_ref(&allocation),
        Some("ab"),
        Some("cd"),
        seen,
    );
    let stored: Stored = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(stored.node, node);
    assert_eq!(stored.seen_ms, 1_234_567);
    assert_eq!(stored.certificate.as_deref(), Some("ab"));
    assert_eq!(stored.secret_sha256.as_deref(), Some("cd"));
    let back: Vec<Allocation> = stored
        .allocations
        .into_iter()
        .map(Allocation::from)
        .collect();
    assert_eq!(format!("{back:?}"), format!("{:?}", [allocation]));
}

fn stored(name: &str, seen_ms: u64) -> Stored {
    Stored {
        node: NodeRecord {
            id: "n1".into(),
            name: name.into(),
            datacenter: "dc1".into(),
            http_addr: "127.0.0.1:1".into(),
            static_meta: Default::default(),
            dynamic_meta: Default::default(),
        },
        allocations: Vec::new(),
        certificate: None,
        secret_sha256: None,
        seen_ms,
    }
}

#[test]
fn the_view_takes_newer_registrations_and_marks_what_etcd_holds() {
    let mut nodes = Nodes::default();
    EtcdState::apply(&mut nodes, "n1".into(), stored("first", 2_000));
    assert!(nodes["n1"].shared && nodes["n1"].heard.is_none());
    // An older write arriving late does not replace newer data.
    EtcdState::apply(&mut nodes, "n1".into(), stored("older", 1_000));
    assert_eq!(nodes["n1"].node.name, "first");
    EtcdState::apply(&mut nodes, "n1".into(), stored("newer", 3_000));
    assert_eq!(nodes["n1"].node.name, "newer");
    assert_eq!(
        nodes["n1"].seen_at,
        UNIX_EPOCH + Duration::from_millis(3_000)
    );
}
