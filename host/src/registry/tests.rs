use std::collections::BTreeMap;

use super::*;
use crate::wit::allocations::ClientStatus;

fn node(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        http_addr: format!("{id}:1"),
        static_meta: BTreeMap::new(),
        dynamic_meta: BTreeMap::new(),
    }
}

fn allocs(ids: &[&str]) -> Vec<Allocation> {
    ids.iter()
        .map(|id| Allocation {
            id: id.to_string(),
            namespace: "default".into(),
            job_id: "j".into(),
            task_group: "g".into(),
            client_status: ClientStatus::Running,
            tasks: Vec::new(),
        })
        .collect()
}

#[test]
fn the_allocation_index_follows_every_registration() {
    let cluster = Cluster::default();
    cluster.register(node("a"), allocs(&["x", "y"]), None, None);
    cluster.register(node("b"), allocs(&["z"]), None, None);
    assert_eq!(cluster.find_allocation("x").unwrap().0, "a");
    assert_eq!(cluster.find_allocation("z").unwrap().0, "b");
    // A node that stops listing an allocation no longer holds it; another may.
    cluster.register(node("a"), allocs(&["y"]), None, None);
    assert!(cluster.find_allocation("x").is_none());
    cluster.register(node("b"), allocs(&["z", "x"]), None, None);
    assert_eq!(cluster.find_allocation("x").unwrap().0, "b");
    assert_eq!(cluster.find_allocation("y").unwrap().0, "a");
    assert_eq!(cluster.allocations().len(), 3);
    assert!(cluster.find_allocation("nope").is_none());
}
