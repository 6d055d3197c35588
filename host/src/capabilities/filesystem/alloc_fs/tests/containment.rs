//! Containment: escapes by `..`, absolute paths, symlinks and magic links are refused by the kernel.
use super::*;

#[test]
fn new_requires_existing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(AllocFs::new(&tmp.path().join("missing")).is_err());
    std::fs::write(tmp.path().join("file"), b"x").unwrap();
    assert!(AllocFs::new(&tmp.path().join("file")).is_err());
    // A relative or symlinked root is canonicalized.
    symlink(tmp.path(), tmp.path().join("link")).unwrap();
    let fs = AllocFs::new(&tmp.path().join("link/.")).unwrap();
    assert_eq!(fs.root, std::fs::canonicalize(tmp.path()).unwrap());
}

#[test]
fn invalid_or_missing_alloc_id_is_not_found() {
    let f = fixture();
    std::fs::write(f.alloc.parent().unwrap().join("plainfile"), b"x").unwrap();
    symlink(&f.alloc, f.alloc.parent().unwrap().join("linked")).unwrap();
    symlink("/etc", f.alloc.parent().unwrap().join("etc")).unwrap();
    let long = "a".repeat(300);
    for id in [
        "",
        ".",
        "..",
        "a/b",
        "/",
        "../root",
        "a\0b",
        "missing",
        "plainfile",
        "linked",
        "etc",
        &long,
    ] {
        assert_eq!(f.fs.stat(id, ""), Err(FsError::NotFound), "stat {id:?}");
        assert_eq!(
            list_all(&f.fs, id, "/"),
            Err(FsError::NotFound),
            "list {id:?}"
        );
        assert_eq!(
            f.fs.open_file(id, "x", &[]).map(|_| ()),
            Err(FsError::NotFound)
        );
        assert_eq!(f.fs.read_at(id, "x", 0, 1, &[]), Err(FsError::NotFound));
    }
    // Other allocations are reachable only by their own id.
    assert_eq!(
        f.fs.read_at("other-alloc", "file", 0, 10, &[]).unwrap(),
        b"other"
    );
}

#[test]
fn dotdot_escapes_are_refused() {
    let f = fixture();
    for p in [
        "..",
        "../..",
        "../",
        "a/../../x",
        "/../x",
        "/..",
        "alloc/../../x",
        "alloc/logs/../../../other-alloc/file",
        "../other-alloc/file",
        // Leaving and coming back is still leaving.
        &format!("../{ID}/alloc"),
        "./../x",
    ] {
        assert_all(&f, p, FsError::EscapesAllocDir);
    }
}

#[test]
fn kernel_refuses_dotdot_on_its_own() {
    // The same escapes without the lexical pre-check: EXDEV from openat2.
    let f = fixture();
    let alloc = rustix::fs::open(f.alloc.as_path(), OFlags::PATH, Mode::empty()).unwrap();
    for p in ["..", "alloc/../..", "web/local/../../../other-alloc"] {
        assert_eq!(
            open_beneath(alloc.as_fd(), p, OFlags::PATH).map(|_| ()),
            Err(Errno::XDEV),
            "{p}"
        );
    }
    assert_eq!(
        open_beneath(alloc.as_fd(), "/etc", OFlags::PATH).map(|_| ()),
        Err(Errno::XDEV)
    );
}

#[test]
fn dotdot_inside_is_allowed() {
    let f = fixture();
    let names = |v: Vec<FileInfo>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
    assert_eq!(
        names(list_all(&f.fs, ID, "alloc/../alloc/logs").unwrap()),
        ["web.stdout.0"]
    );
    assert_eq!(
        names(list_all(&f.fs, ID, "./alloc//./logs/").unwrap()),
        ["web.stdout.0"]
    );
    assert_eq!(
        read_all(&f, "web/../alloc/logs/web.stdout.0").unwrap(),
        b"0123456789"
    );
    assert_eq!(
        read_all(&f, "//alloc///logs//web.stdout.0").unwrap(),
        b"0123456789"
    );
    assert_eq!(f.fs.stat(ID, "alloc/..").unwrap().mode & S_IFMT, S_IFDIR);
}

#[test]
fn absolute_request_paths_resolve_inside_the_alloc_dir() {
    let f = fixture();
    for p in [
        "/etc/passwd",
        "//etc/passwd",
        "/proc/self/root",
        "/proc/self/fd/0",
    ] {
        assert_all(&f, p, FsError::NotFound);
    }
    f.write("etc/passwd", b"inside");
    assert_eq!(read_all(&f, "/etc/passwd").unwrap(), b"inside");
    assert_eq!(read_all(&f, "//etc/passwd").unwrap(), b"inside");
    assert_eq!(f.fs.stat(ID, "/etc/passwd").unwrap().size, 6);
}

#[test]
fn percent_encoding_is_literal() {
    let f = fixture();
    for p in [
        "%2e%2e",
        "%2e%2e/%2e%2e/etc/passwd",
        "%2F..",
        "..%2f..%2fetc",
    ] {
        assert_all(&f, p, FsError::NotFound);
    }
    f.write("%2e%2e/x", b"literal");
    assert_eq!(read_all(&f, "%2e%2e/x").unwrap(), b"literal");
}

#[test]
fn absolute_symlink_out_is_refused() {
    let f = fixture();
    f.link("alloc/data/etc", "/etc");
    f.link("alloc/data/passwd", "/etc/passwd");
    let outside = f.tmp.path().join("outside/secret.txt");
    f.link("alloc/data/abs", outside.to_str().unwrap());
    // Even an absolute link back into the alloc dir is refused: beneath
    // resolution never starts over at "/".
    f.link(
        "alloc/data/self",
        f.alloc.join("web/local/ok.txt").to_str().unwrap(),
    );
    for p in [
        "alloc/data/etc",
        "alloc/data/etc/passwd",
        "alloc/data/passwd",
        "alloc/data/abs",
        "alloc/data/self",
    ] {
        assert_all(&f, p, FsError::EscapesAllocDir);
    }
}

#[test]
fn relative_symlink_out_is_refused() {
    let f = fixture();
    f.link("alloc/data/up", "../../../../outside/secret.txt");
    f.link("alloc/data/updir", "../../../../outside");
    f.link("alloc/data/sibling", "../../../other-alloc");
    f.link("rootlink", "..");
    for p in [
        "alloc/data/up",
        "alloc/data/updir",
        "alloc/data/updir/secret.txt",
        "alloc/data/sibling/file",
        "rootlink",
        "rootlink/other-alloc/file",
    ] {
        assert_all(&f, p, FsError::EscapesAllocDir);
    }
}

#[test]
fn symlink_chains() {
    let f = fixture();
    // Out: inside -> inside -> outside.
    f.link("alloc/data/c1", "c2");
    f.link("alloc/data/c2", "../tmp/c3");
    f.link("alloc/tmp/c3", "../../../../outside");
    assert_all(&f, "alloc/data/c1", FsError::EscapesAllocDir);
    assert_all(&f, "alloc/data/c1/secret.txt", FsError::EscapesAllocDir);
    // Staying inside works, and stat reports the target.
    f.link("alloc/data/l1", "l2");
    f.link("alloc/data/l2", "../logs");
    assert_eq!(list_all(&f.fs, ID, "alloc/data/l1").unwrap().len(), 1);
    let info = f.fs.stat(ID, "alloc/data/l1/web.stdout.0").unwrap();
    assert_eq!((info.size, info.mode & S_IFMT), (10, S_IFREG));
    let dir = f.fs.stat(ID, "alloc/data/l1").unwrap();
    assert_eq!((dir.name.as_str(), dir.mode & S_IFMT), ("l1", S_IFDIR));
    assert_eq!(
        read_all(&f, "alloc/data/l1/web.stdout.0").unwrap(),
        b"0123456789"
    );
}

#[test]
fn symlink_loops_fail_fast_as_escape() {
    let f = fixture();
    f.link("alloc/data/loopa", "loopb");
    f.link("alloc/data/loopb", "loopa");
    f.link("alloc/data/me", "me");
    f.link("alloc/data/deep", "deep/deep");
    without_hanging(move || {
        for p in ["alloc/data/loopa", "alloc/data/me", "alloc/data/deep/x"] {
            assert_all(&f, p, FsError::EscapesAllocDir);
        }
    });
}

#[test]
fn magic_links_are_refused() {
    // /proc/<pid> stands in for an alloc dir full of magic links.
    let fs = AllocFs::new(Path::new("/proc")).unwrap();
    let pid = std::process::id().to_string();
    let held = File::open("/etc/hostname")
        .or_else(|_| File::open("/"))
        .unwrap();
    let fd_path = format!("fd/{}", held.as_raw_fd());
    for p in ["cwd", "root", "root/etc/passwd", "exe", &fd_path] {
        assert_eq!(fs.stat(&pid, p), Err(FsError::EscapesAllocDir), "{p}");
        assert_eq!(
            fs.read_at(&pid, p, 0, 10, &[]),
            Err(FsError::EscapesAllocDir),
            "{p}"
        );
    }
    // Plain files there are fine, so the refusal above is the magic link.
    assert!(fs.read_at(&pid, "status", 0, 64, &[]).is_ok());
    // /proc/self is an ordinary (not magic) symlink, so not an alloc dir.
    assert_eq!(fs.stat("self", ""), Err(FsError::NotFound));
    // A symlink to /proc inside an alloc dir is refused as absolute.
    let f = fixture();
    f.link("alloc/data/proc", "/proc/self/root");
    assert_all(&f, "alloc/data/proc/etc/passwd", FsError::EscapesAllocDir);
}
