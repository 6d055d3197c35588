//! What is never read: secrets and private dirs by their real location, special files, devices.
use super::*;

#[test]
fn secrets_and_private_are_refused_by_real_location() {
    let f = fixture();
    f.link("alloc/data/link", "../../web/secrets/token");
    f.link("alloc/data/sdir", "../../web/secrets");
    f.link("alloc/data/pdir", "../../web/private");
    for p in [
        "web/secrets/token",
        "/web/secrets/token",
        "web//secrets/./token",
        "alloc/../web/secrets/token",
        "web/local/../secrets/token",
        "alloc/data/link",
        "alloc/data/sdir/token",
    ] {
        assert_eq!(read_all(&f, p), Err(FsError::SecretFile), "read_at {p}");
        assert_eq!(open_read(&f, p), Err(FsError::SecretFile), "open_file {p}");
        // stat is allowed (Nomad too lets secrets be stat'ed and listed).
        assert_eq!(f.fs.stat(ID, p).unwrap().size, 6, "stat {p}");
    }
    for p in ["web/private/key", "alloc/data/pdir/key"] {
        assert_eq!(read_all(&f, p), Err(FsError::PrivateFile), "{p}");
        assert_eq!(open_read(&f, p), Err(FsError::PrivateFile), "{p}");
    }
    assert_eq!(list_all(&f.fs, ID, "web/secrets").unwrap().len(), 1);
    // Only the listed tasks are protected.
    assert_eq!(
        f.fs.read_at(ID, "web/secrets/token", 0, 64, &[]).unwrap(),
        b"s3cr3t"
    );
    let other = vec!["api".to_string()];
    assert_eq!(
        f.fs.read_at(ID, "alloc/data/link", 0, 64, &other).unwrap(),
        b"s3cr3t"
    );
    // The directories themselves are directories first.
    assert_eq!(read_all(&f, "web/secrets"), Err(FsError::IsADirectory));
}

#[test]
fn lookalike_names_are_not_refused() {
    let f = fixture();
    assert_eq!(read_all(&f, "web/secrets2.txt").unwrap(), b"not secret");
    assert_eq!(open_read(&f, "web/privateer").unwrap(), b"not private");
    f.write("web/local/secrets/x", b"nested");
    assert_eq!(read_all(&f, "web/local/secrets/x").unwrap(), b"nested");
    f.write("alloc/secrets/y", b"alloc-level");
    assert_eq!(read_all(&f, "alloc/secrets/y").unwrap(), b"alloc-level");
    // Odd task names neither panic nor protect anything unexpected.
    let odd: Vec<String> = ["", ".", "..", "a/b", "web\0", "/"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        f.fs.read_at(ID, "web/local/ok.txt", 0, 9, &odd).unwrap(),
        b"ok"
    );
}

#[test]
fn symlinked_secrets_dir_is_protected_at_its_real_location() {
    let f = fixture();
    // Task `db` has its secrets dir as a symlink to somewhere else in the alloc.
    std::fs::create_dir_all(f.path("db")).unwrap();
    f.write("alloc/data/dbsecrets/pw", b"hunter2");
    f.link("db/secrets", "../alloc/data/dbsecrets");
    let tasks = vec!["web".to_string(), "db".to_string()];
    for p in ["db/secrets/pw", "alloc/data/dbsecrets/pw"] {
        assert_eq!(
            f.fs.read_at(ID, p, 0, 64, &tasks),
            Err(FsError::SecretFile),
            "{p}"
        );
    }
}

#[test]
fn special_files_are_never_opened() {
    let f = fixture();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        f.path("alloc/tmp/fifo").as_path(),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(f.path("alloc/tmp/sock")).unwrap();
    f.link("alloc/data/fifolink", "../tmp/fifo");
    let fs = f.fs.clone();
    without_hanging(move || {
        for p in ["alloc/tmp/fifo", "alloc/data/fifolink", "alloc/tmp/sock"] {
            assert_eq!(
                fs.open_file(ID, p, &[]).map(|_| ()),
                Err(FsError::NotRegularFile),
                "{p}"
            );
            assert_eq!(fs.read_at(ID, p, 0, 10, &[]), Err(FsError::NotRegularFile));
        }
    });
    assert_eq!(
        f.fs.stat(ID, "alloc/tmp/fifo").unwrap().mode & S_IFMT,
        S_IFIFO
    );
    assert_eq!(
        f.fs.stat(ID, "alloc/data/fifolink").unwrap().mode & S_IFMT,
        S_IFIFO
    );
    assert_eq!(
        f.fs.stat(ID, "alloc/tmp/sock").unwrap().mode & S_IFMT,
        S_IFSOCK
    );
    let listed: Vec<_> = list_all(&f.fs, ID, "alloc/tmp")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.mode & S_IFMT))
        .collect();
    assert_eq!(
        listed,
        [
            ("fifo".to_string(), S_IFIFO),
            ("sock".to_string(), S_IFSOCK)
        ]
    );
    assert_eq!(
        list_all(&f.fs, ID, "alloc/tmp/fifo"),
        Err(FsError::NotADirectory)
    );
}

#[test]
fn device_nodes_are_never_opened() {
    let f = fixture();
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        f.path("alloc/tmp/null").as_path(),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    );
    if made.is_err() {
        // No CAP_MKNOD here; FIFOs and sockets cover the same code path.
        return;
    }
    assert_eq!(
        f.fs.stat(ID, "alloc/tmp/null").unwrap().mode & S_IFMT,
        S_IFCHR
    );
    assert_eq!(read_all(&f, "alloc/tmp/null"), Err(FsError::NotRegularFile));
}

#[test]
fn directories_are_not_files() {
    let f = fixture();
    for p in ["", "/", "alloc", "alloc/logs/", "web/.."] {
        assert_eq!(read_all(&f, p), Err(FsError::IsADirectory), "{p:?}");
        assert_eq!(open_read(&f, p), Err(FsError::IsADirectory), "{p:?}");
    }
}

#[test]
fn nul_and_huge_paths_fail_without_hanging() {
    let f = fixture();
    without_hanging(move || {
        for p in ["a\0b", "\0", "alloc/logs/web.stdout.0\0", "/\0/.."] {
            assert_all(&f, p, FsError::Io("invalid path".into()));
        }
        let long = "a".repeat(10_000);
        let many = "a/".repeat(5_000);
        let huge = "x".repeat(5_000_000);
        for p in [long.as_str(), many.as_str(), huge.as_str()] {
            assert_all(&f, p, FsError::Io("file name too long".into()));
        }
        // A single over-long component is the kernel's ENAMETOOLONG.
        assert_all(
            &f,
            &"n".repeat(300),
            FsError::Io("file name too long".into()),
        );
        // Just under PATH_MAX: the kernel walks it and fails normally.
        assert_all(&f, &"a/".repeat(2_000), FsError::NotFound);
        assert_all(&f, &"../".repeat(1_300), FsError::EscapesAllocDir);
        assert_eq!(f.fs.stat(ID, &"./".repeat(2_000)).unwrap().name, "");
        // Leading slashes do not count against the limit.
        assert!(f.fs.stat(ID, &"/".repeat(10_000)).is_ok());
    });
}
