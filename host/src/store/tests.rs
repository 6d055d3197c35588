//! The state store: identity, metadata change sets, allocation records, damage.
use super::*;
use std::sync::Arc;

fn set(key: &str, value: &str) -> (String, MetaOp) {
    (key.to_owned(), MetaOp::Set(value.to_owned()))
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<StateStore>();
}

#[test]
fn open_creates_directory_and_file() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("nested").join("client");
    let _store = StateStore::open(&dir)?;
    assert!(dir.join("state.redb").is_file());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the state directory is the agent's only");
    assert_eq!(mode(&dir.join("state.redb")), 0o600, "so is the database");
    Ok(())
}

#[test]
fn node_id_is_a_stable_uuid_across_reopen() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let first = {
        let store = StateStore::open(tmp.path())?;
        let id = store.node_id()?;
        assert_eq!(store.node_id()?, id);
        id
    };
    let parsed = uuid::Uuid::parse_str(&first)?;
    assert_eq!(parsed.get_version_num(), 4);

    let store = StateStore::open(tmp.path())?;
    assert_eq!(store.node_id()?, first);
    Ok(())
}

#[test]
fn concurrent_first_node_id_calls_agree() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = Arc::new(StateStore::open(tmp.path())?);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.node_id())
        })
        .collect();
    let mut ids = Vec::new();
    for handle in handles {
        let id = handle
            .join()
            .map_err(|_| anyhow::anyhow!("node id thread panicked"))??;
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "callers saw different node ids: {ids:?}");
    Ok(())
}

#[test]
fn apply_meta_set_tombstone_remove() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = StateStore::open(tmp.path())?;
    assert!(store.dynamic_meta()?.is_empty());

    let map = store.apply_meta(&[set("a", "1"), set("b", "2"), set("c", "3")])?;
    assert_eq!(map.len(), 3);
    assert_eq!(map.get("a"), Some(&Some("1".to_owned())));

    let map = store.apply_meta(&[
        ("a".to_owned(), MetaOp::Tombstone),
        ("b".to_owned(), MetaOp::Remove),
        set("c", "33"),
        ("never-set".to_owned(), MetaOp::Remove),
    ])?;
    let expected: BTreeMap<String, Option<String>> = [
        ("a".to_owned(), None),
        ("c".to_owned(), Some("33".to_owned())),
    ]
    .into_iter()
    .collect();
    assert_eq!(map, expected);
    assert_eq!(store.dynamic_meta()?, expected);

    // A tombstoned key can be set again, and later ops in one batch win.
    let map = store.apply_meta(&[set("a", "x"), ("a".to_owned(), MetaOp::Remove)])?;
    assert!(!map.contains_key("a"));
    let map = store.apply_meta(&[set("a", "back")])?;
    assert_eq!(map.get("a"), Some(&Some("back".to_owned())));

    // An empty batch changes nothing and still reports the map.
    assert_eq!(store.apply_meta(&[])?, map);
    Ok(())
}

#[test]
fn concurrent_applies_lose_no_key() -> anyhow::Result<()> {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 50;
    let tmp = tempfile::tempdir()?;
    let store = Arc::new(StateStore::open(tmp.path())?);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> anyhow::Result<()> {
                for i in 0..PER_THREAD {
                    store.apply_meta(&[set(&format!("t{t}-k{i}"), &i.to_string())])?;
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("apply thread panicked"))??;
    }
    let map = store.dynamic_meta()?;
    assert_eq!(map.len(), THREADS * PER_THREAD);
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            assert_eq!(map.get(&format!("t{t}-k{i}")), Some(&Some(i.to_string())));
        }
    }
    Ok(())
}

#[test]
fn data_survives_reopen() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let doc = serde_json::json!({"ID": "a1", "ClientStatus": "running"});
    let (id, meta) = {
        let store = StateStore::open(tmp.path())?;
        let meta =
            store.apply_meta(&[set("rack", "r1"), ("zone".to_owned(), MetaOp::Tombstone)])?;
        store.put_allocation("a1", &doc)?;
        (store.node_id()?, meta)
    };
    let store = StateStore::open(tmp.path())?;
    assert_eq!(store.node_id()?, id);
    assert_eq!(store.dynamic_meta()?, meta);
    assert_eq!(store.allocations()?, vec![("a1".to_owned(), doc)]);
    Ok(())
}

#[test]
fn allocations_put_replace_remove_list() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = StateStore::open(tmp.path())?;
    assert!(store.allocations()?.is_empty());

    let b = serde_json::json!({"ID": "b", "Tasks": ["web"]});
    let a = serde_json::json!({"ID": "a", "n": 1});
    store.put_allocation("b", &b)?;
    store.put_allocation("a", &a)?;
    assert_eq!(
        store.allocations()?,
        vec![("a".to_owned(), a), ("b".to_owned(), b.clone())]
    );

    let a2 = serde_json::json!({"ID": "a", "n": 2});
    store.put_allocation("a", &a2)?;
    assert_eq!(
        store.allocations()?,
        vec![("a".to_owned(), a2), ("b".to_owned(), b.clone())]
    );

    store.remove_allocation("a")?;
    store.remove_allocation("does-not-exist")?;
    assert_eq!(store.allocations()?, vec![("b".to_owned(), b)]);
    Ok(())
}

/// A damaged file is an error naming the file and the way out, never a panic, whatever
/// part of it is damaged; a file that still opens keeps what it held or fails to read
/// with an error.
#[test]
fn a_damaged_database_is_an_error_with_a_way_out() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let good = {
        let store = StateStore::open(tmp.path())?;
        store.node_id()?;
        store.apply_meta(&[set("rack", "r1")])?;
        store.put_allocation("a1", &serde_json::json!({"ID": "a1"}))?;
        drop(store);
        std::fs::read(tmp.path().join(FILE_NAME))?
    };
    let mut damaged_files: Vec<(String, Vec<u8>)> = vec![
        ("garbage".into(), vec![0xa5; good.len()]),
        ("truncated".into(), good[..good.len() / 2].to_vec()),
        ("header only".into(), good[..512].to_vec()),
    ];
    // Deterministic damage: runs of bytes flipped at spread-out places.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..64 {
        let mut bytes = good.clone();
        for _ in 0..1 + round % 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % bytes.len();
            let len = 1 + (x >> 32) as usize % 64;
            for b in bytes.iter_mut().skip(at).take(len) {
                *b ^= 0xff;
            }
        }
        damaged_files.push((format!("flipped {round}"), bytes));
    }
    let (mut refused, mut opened) = (0, 0);
    for (what, bytes) in damaged_files {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, &bytes)?;
        let result = std::panic::catch_unwind(|| {
            StateStore::open(dir.path()).and_then(|store| {
                Ok((
                    store.node_id()?,
                    store.dynamic_meta()?,
                    store.allocations()?,
                ))
            })
        });
        match result {
            Err(_) => panic!("{what}: opening a damaged database panicked"),
            Ok(Err(err)) => {
                let text = format!("{err:#}");
                if text.contains("is damaged") {
                    assert!(text.contains(&path.display().to_string()), "{what}: {text}");
                    assert!(text.contains("move it aside"), "{what}: {text}");
                }
                refused += 1;
            }
            Ok(Ok((_, meta, _))) => {
                // The damage hit unused space: the data must be what was written.
                assert_eq!(meta.get("rack"), Some(&Some("r1".to_owned())), "{what}");
                opened += 1;
            }
        }
    }
    assert!(refused >= 3, "refused {refused}, opened {opened}");
    Ok(())
}

#[test]
fn second_open_of_the_same_directory_is_an_error() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let _store = StateStore::open(tmp.path())?;
    let second = StateStore::open(tmp.path());
    assert!(second.is_err());
    Ok(())
}
