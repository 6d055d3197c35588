use super::*;

fn open(dir: &Path, name: &str) -> File {
    File::open(dir.join(name)).unwrap()
}

#[test]
fn index_paths_are_in_the_tasks_private_dir_then_the_legacy_one() {
    let tasks = ["web".to_string(), "a.b".to_string()];
    assert_eq!(
        index_paths("alloc/logs/web.stdout.3", &tasks),
        [
            "web/private/logindex/web.stdout.3.idx",
            "alloc/logs/.index/web.stdout.3.idx"
        ]
    );
    assert_eq!(
        index_paths("/alloc/logs/a.b.stderr.0", &tasks)[0],
        "a.b/private/logindex/a.b.stderr.0.idx"
    );
    // Not a task of this allocation: only where an old agent may have put it.
    assert_eq!(
        index_paths("alloc/logs/db.stdout.0", &tasks),
        ["alloc/logs/.index/db.stdout.0.idx"]
    );
    assert!(index_paths("alloc/data/x", &tasks).is_empty());
    assert!(index_paths("alloc/logs/a/b", &tasks).is_empty());
    assert!(index_paths("alloc/logs/.index", &tasks).is_empty());
}

#[test]
fn legacy_indexes_move_to_the_new_dir_and_the_old_dir_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let legacy = logs.join(LEGACY_DIR);
    let new = tmp.path().join("web/private").join(INDEX_DIR);
    std::fs::create_dir_all(&legacy).unwrap();
    for name in ["web.stdout.0.idx", "web.stdout.1.idx", "db.stdout.0.idx"] {
        std::fs::write(legacy.join(name), name).unwrap();
    }
    migrate(&logs, &new, "web.stdout");
    assert_eq!(
        std::fs::read(new.join("web.stdout.1.idx")).unwrap(),
        b"web.stdout.1.idx"
    );
    assert!(new.join("web.stdout.0.idx").exists());
    // Another task's index stays until its own next run, and the directory with it.
    assert!(legacy.join("db.stdout.0.idx").exists());
    migrate(
        &logs,
        &tmp.path().join("db/private").join(INDEX_DIR),
        "db.stdout",
    );
    assert!(!legacy.exists());
    // Nothing to move: nothing created.
    migrate(&logs, &tmp.path().join("x"), "web.stdout");
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn records_cover_ranges_and_a_torn_record_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
    w.mark(0, 100);
    w.mark(10, 100); // same time: skipped
    w.mark(20, 200);
    w.mark(30, 300);
    let f = open(tmp.path(), "t.stdout.0.idx");
    assert_eq!(f.metadata().unwrap().len(), HEADER + 3 * RECORD);
    assert_eq!(
        covering(&f, 0, 100).unwrap(),
        Some(vec![(0, 100), (20, 200), (30, 300)])
    );
    assert_eq!(covering(&f, 25, 30).unwrap(), Some(vec![(20, 200)]));
    assert_eq!(covering(&f, 25, 25).unwrap(), Some(vec![(20, 200)]));
    assert_eq!(covering(&f, 35, 99).unwrap(), Some(vec![(30, 300)]));
    // A crash mid-record: the torn tail is not a record.
    let mut a = std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join("t.stdout.0.idx"))
        .unwrap();
    a.write_all(&[1, 2, 3, 4, 5]).unwrap();
    assert_eq!(covering(&f, 35, 99).unwrap(), Some(vec![(30, 300)]));
}

#[test]
fn a_torn_or_foreign_header_means_no_times() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.idx");
    std::fs::write(&path, b"CRVN").unwrap();
    assert_eq!(covering(&File::open(&path).unwrap(), 0, 1).unwrap(), None);
    std::fs::write(&path, [0u8; 64]).unwrap();
    assert_eq!(covering(&File::open(&path).unwrap(), 0, 1).unwrap(), None);
}

#[test]
fn a_new_log_file_replaces_a_stale_index_and_symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
    w.mark(0, 1);
    let mut w = IndexWriter::create(tmp.path(), "t.stdout", 0);
    w.mark(0, 2);
    let f = open(tmp.path(), "t.stdout.0.idx");
    assert_eq!(covering(&f, 0, 1).unwrap(), Some(vec![(0, 2)]));

    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"").unwrap();
    std::os::unix::fs::symlink(&outside, tmp.path().join("t.stdout.1.idx")).unwrap();
    let mut w = IndexWriter::create(tmp.path(), "t.stdout", 1);
    w.mark(0, 1);
    assert_eq!(std::fs::read(&outside).unwrap(), b"");
}

#[test]
fn purge_removes_indexes_below_the_kept_files() {
    let tmp = tempfile::tempdir().unwrap();
    for i in [1, 2, 10] {
        IndexWriter::create(tmp.path(), "t.stdout", i);
    }
    IndexWriter::create(tmp.path(), "t.stderr", 1);
    purge(tmp.path(), "t.stdout", 2);
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["t.stderr.1.idx", "t.stdout.10.idx", "t.stdout.2.idx"]
    );
}
