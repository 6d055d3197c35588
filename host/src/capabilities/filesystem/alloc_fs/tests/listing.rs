//! Metadata and directory listings.
use super::*;

#[test]
fn stat_reports_metadata_and_name() {
    let f = fixture();
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    File::options()
        .write(true)
        .open(f.path("alloc/logs/web.stdout.0"))
        .unwrap()
        .set_modified(t)
        .unwrap();
    let info = f.fs.stat(ID, "alloc/logs/web.stdout.0").unwrap();
    assert_eq!(info.name, "web.stdout.0");
    assert_eq!(info.size, 10);
    assert_eq!(info.mode & S_IFMT, S_IFREG);
    assert_eq!(info.modified, (1_700_000_000, 123_456_789));
    for (p, name) in [
        ("", ""),
        ("/", ""),
        (".", ""),
        ("//./", ""),
        ("alloc/logs/", "logs"),
        ("alloc/logs/.", "logs"),
        ("alloc/logs/..", ".."),
    ] {
        let info = f.fs.stat(ID, p).unwrap();
        assert_eq!(info.name, name, "{p:?}");
        assert_eq!(info.mode & S_IFMT, S_IFDIR, "{p:?}");
    }
    // A symlink is followed; the name is still the link's.
    f.link("alloc/data/tok", "../../web/secrets/token");
    let info = f.fs.stat(ID, "alloc/data/tok").unwrap();
    assert_eq!((info.name.as_str(), info.size), ("tok", 6));
    assert_eq!(info.mode & S_IFMT, S_IFREG);
    // Dangling symlink inside: not found. Outside target: escape.
    f.link("alloc/data/dangling", "nope");
    assert_eq!(f.fs.stat(ID, "alloc/data/dangling"), Err(FsError::NotFound));
    f.link("alloc/data/out", "/nonexistent");
    assert_eq!(
        f.fs.stat(ID, "alloc/data/out"),
        Err(FsError::EscapesAllocDir)
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let root = f.fs.stat(ID, "").unwrap();
    assert!(root.modified.0 > 0 && root.modified.0 <= i64::try_from(now).unwrap() + 5);
}

#[test]
fn list_is_sorted_lstat_and_skips_dots() {
    let f = fixture();
    f.write("alloc/data/b.txt", b"bb");
    f.write("alloc/data/B", b"B");
    f.write("alloc/data/a", b"");
    std::fs::create_dir(f.path("alloc/data/zdir")).unwrap();
    f.link("alloc/data/link", "../../web/secrets/token");
    f.link("alloc/data/out", "/etc/passwd");
    let entries = list_all(&f.fs, ID, "alloc/data").unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["B", "a", "b.txt", "link", "out", "zdir"]);
    let by = |n: &str| entries.iter().find(|e| e.name == n).unwrap().clone();
    assert_eq!((by("b.txt").size, by("b.txt").mode & S_IFMT), (2, S_IFREG));
    assert_eq!(by("zdir").mode & S_IFMT, S_IFDIR);
    // Symlinks are not followed: type link, size = target length, even
    // when the target is outside.
    let link = by("link");
    assert_eq!(link.mode & S_IFMT, S_IFLNK);
    assert_eq!(link.size, "../../web/secrets/token".len() as u64);
    let out = by("out");
    assert_eq!((out.mode & S_IFMT, out.size), (S_IFLNK, 11));

    let root: Vec<_> = list_all(&f.fs, ID, "/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(root, ["alloc", "web"]);
    assert_eq!(list_all(&f.fs, ID, "").unwrap().len(), 2);
    assert!(list_all(&f.fs, ID, "alloc/tmp").unwrap().is_empty());
    // Listing follows symlinks in the path itself (inside only).
    f.link("alloc/data/logs", "../logs");
    assert_eq!(list_all(&f.fs, ID, "alloc/data/logs").unwrap().len(), 1);
}

#[test]
fn list_errors() {
    let f = fixture();
    f.write("x.txt", b"x");
    assert_eq!(list_all(&f.fs, ID, "x.txt"), Err(FsError::NotADirectory));
    assert_eq!(list_all(&f.fs, ID, "x.txt/"), Err(FsError::NotADirectory));
    assert_eq!(
        list_all(&f.fs, ID, "x.txt/sub"),
        Err(FsError::NotADirectory)
    );
    assert_eq!(f.fs.stat(ID, "x.txt/sub"), Err(FsError::NotADirectory));
    assert_eq!(read_all(&f, "x.txt/sub"), Err(FsError::NotADirectory));
    assert_eq!(list_all(&f.fs, ID, "missing"), Err(FsError::NotFound));
    assert_eq!(
        list_all(&f.fs, ID, "missing/deeper"),
        Err(FsError::NotFound)
    );
    f.link("alloc/data/filelink", "../../x.txt");
    assert_eq!(
        list_all(&f.fs, ID, "alloc/data/filelink"),
        Err(FsError::NotADirectory)
    );
}

#[test]
fn list_shows_non_utf8_names_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(f.path("alloc/tmp").join(name), b"x").unwrap();
    let entries = list_all(&f.fs, ID, "alloc/tmp").unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "bad\u{fffd}name");
}
