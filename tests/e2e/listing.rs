//! `fs/ls` of directories larger than the core's memory could hold as one answer: the entries
//! pass through the core a page at a time and the body is streamed (issue 29: 100,000 entries
//! used to trap the core, which had built the whole array in its 64 MiB).

use std::fs::File;

use crate::support::Agent;

/// Create `count` empty files `f000000`... in `dir`, in reverse order (the listing sorts).
fn fill(dir: &std::path::Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in (0..count).rev() {
        File::create(dir.join(format!("f{i:06}"))).unwrap();
    }
}

/// List `alloc/data/big` of the agent's demo allocation and check every entry's name and
/// order, and a sample entry's fields.
fn check_listing(agent: &Agent, count: usize) {
    let ls = agent.get(&format!(
        "/v1/client/fs/ls/{}?path=alloc/data/big",
        agent.demo_alloc
    ));
    assert_eq!(ls.status, 200, "{}", ls.text());
    assert_eq!(ls.header("content-type"), Some("application/json"));
    assert!(
        ls.body
            .starts_with(br#"[{"FileMode":"-rw-r--r--","IsDir":false,"ModTime":""#),
        "{}",
        String::from_utf8_lossy(&ls.body[..200.min(ls.body.len())])
    );
    let last = format!(r#","Name":"f{:06}","Size":0}}]"#, count - 1);
    assert!(ls.body.ends_with(last.as_bytes()));
    let entries = ls.json();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), count);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["Name"], format!("f{i:06}"), "entry {i}");
    }
    for i in [0, count / 2, count - 1] {
        let entry = &entries[i];
        assert_eq!(entry["Size"], 0);
        assert_eq!(entry["IsDir"], false);
        assert_eq!(entry.as_object().unwrap().len(), 5, "{entry}");
    }
}

#[test]
fn a_directory_of_100k_entries_lists_completely() {
    let agent = Agent::start();
    fill(&agent.alloc_dir().join("alloc/data/big"), 100_000);
    check_listing(&agent, 100_000);
}

#[test]
fn the_native_core_streams_large_listings_too() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-core=native"]);
    // Three pages and a bit: the streamed path, every listing handle released.
    fill(&agent.alloc_dir().join("alloc/data/big"), 3_100);
    check_listing(&agent, 3_100);
    check_listing(&agent, 3_100);
}
