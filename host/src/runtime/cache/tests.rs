use super::*;

#[test]
fn hmac_matches_rfc_4231() {
    // Test case 1: key = 20 bytes of 0x0b, data = "Hi There".
    let tag = hmac_sha256(&[0x0b; 20], &[b"Hi ", b"There"]);
    assert_eq!(
        hex(&tag),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    // Test case 2: key = "Jefe".
    let tag = hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"]);
    assert_eq!(
        hex(&tag),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn entries_round_trip_and_forgeries_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::default();
    // The smallest component: no imports, no exports.
    let component = Component::new(&engine, b"\0asm\x0d\0\x01\0").unwrap();
    let cache = CoreCache::open(dir.path(), &engine).unwrap();
    assert!(cache.get(&engine, "abc").is_none());
    cache.put("abc", &component).unwrap();
    assert!(cache.get(&engine, "abc").is_some());

    // Reopening finds the same key, hence the same entries.
    let reopened = CoreCache::open(dir.path(), &engine).unwrap();
    assert!(reopened.get(&engine, "abc").is_some());

    // An entry renamed to stand for another core does not verify.
    let entry = dir.path().join(cache.entry_name("abc"));
    let other = dir.path().join(cache.entry_name("def"));
    fs::copy(&entry, &other).unwrap();
    assert!(cache.get(&engine, "def").is_none());
    assert!(!other.exists(), "the forged entry was not removed");

    // Nor does a damaged one.
    let mut data = fs::read(&entry).unwrap();
    let last = data.len() - 1;
    data[last] ^= 1;
    fs::write(&entry, data).unwrap();
    assert!(cache.get(&engine, "abc").is_none());
    assert!(!entry.exists());
}

#[test]
fn the_directory_is_private_and_bounded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("core-cache");
    let engine = Engine::default();
    let component = Component::new(&engine, b"\0asm\x0d\0\x01\0").unwrap();
    let cache = CoreCache::open(&root, &engine).unwrap();
    let mode = fs::metadata(&root).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let key_mode = fs::metadata(root.join(KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    for i in 0..MAX_ENTRIES + 3 {
        cache.put(&format!("{i:064}"), &component).unwrap();
    }
    let entries = fs::read_dir(&root)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == EXTENSION)
        })
        .count();
    assert_eq!(entries, MAX_ENTRIES);
}
