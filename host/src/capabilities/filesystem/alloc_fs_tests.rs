//! Containment, secrets and special files, against a real directory tree.
use super::*;
use crate::util::testing::PATIENCE;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

const ID: &str = "8d3c1a2e-0000-4000-8000-000000000001";
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;
const S_IFCHR: u32 = 0o020000;

struct Fixture {
    tmp: TempDir,
    fs: AllocFs,
    alloc: PathBuf,
}

impl Fixture {
    fn path(&self, rel: &str) -> PathBuf {
        self.alloc.join(rel)
    }
    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    fn link(&self, rel: &str, target: &str) {
        symlink(target, self.path(rel)).unwrap();
    }
    fn host_prefix(&self) -> String {
        self.tmp.path().to_string_lossy().into_owned()
    }
}

/// Nomad's layout for one alloc with task `web`, plus data outside it.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let alloc = root.join(ID);
    for d in [
        "alloc/logs",
        "alloc/data",
        "alloc/tmp",
        "web/local",
        "web/secrets",
        "web/private",
        "web/tmp",
    ] {
        std::fs::create_dir_all(alloc.join(d)).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    std::fs::write(tmp.path().join("outside/secret.txt"), b"outside").unwrap();
    std::fs::create_dir_all(root.join("other-alloc")).unwrap();
    std::fs::write(root.join("other-alloc/file"), b"other").unwrap();
    let fs = AllocFs::new(&root).unwrap();
    let f = Fixture { tmp, fs, alloc };
    f.write("alloc/logs/web.stdout.0", b"0123456789");
    f.write("web/secrets/token", b"s3cr3t");
    f.write("web/private/key", b"pk");
    f.write("web/secrets2.txt", b"not secret");
    f.write("web/privateer", b"not private");
    f.write("web/local/ok.txt", b"ok");
    f
}

fn tasks() -> Vec<String> {
    vec!["web".to_string()]
}

fn read_all(f: &Fixture, path: &str) -> Result<Vec<u8>, FsError> {
    f.fs.read_at(ID, path, 0, 1 << 20, &tasks())
}

fn open_read(f: &Fixture, path: &str) -> Result<Vec<u8>, FsError> {
    let mut file = f.fs.open_file(ID, path, &tasks())?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).unwrap();
    Ok(buf)
}

/// Runs `op` on another thread and fails the test if it hangs (a guard, not a time limit:
/// see [`PATIENCE`]).
fn without_hanging<T: Send + 'static>(op: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(op());
    });
    rx.recv_timeout(PATIENCE)
        .expect("operation blocked (or panicked on its thread)")
}

/// Every operation on `path` must fail with `want`.
fn assert_all(f: &Fixture, path: &str, want: FsError) {
    assert_eq!(f.fs.stat(ID, path), Err(want.clone()), "stat {path:?}");
    assert_eq!(f.fs.list(ID, path), Err(want.clone()), "list {path:?}");
    assert_eq!(
        f.fs.open_file(ID, path, &tasks()).map(|_| ()),
        Err(want.clone()),
        "open_file {path:?}"
    );
    assert_eq!(read_all(f, path), Err(want), "read_at {path:?}");
}

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
        assert_eq!(f.fs.list(id, "/"), Err(FsError::NotFound), "list {id:?}");
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
        names(f.fs.list(ID, "alloc/../alloc/logs").unwrap()),
        ["web.stdout.0"]
    );
    assert_eq!(
        names(f.fs.list(ID, "./alloc//./logs/").unwrap()),
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
    assert_eq!(f.fs.list(ID, "alloc/data/l1").unwrap().len(), 1);
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
    let entries = f.fs.list(ID, "alloc/data").unwrap();
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

    let root: Vec<_> =
        f.fs.list(ID, "/")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
    assert_eq!(root, ["alloc", "web"]);
    assert_eq!(f.fs.list(ID, "").unwrap().len(), 2);
    assert!(f.fs.list(ID, "alloc/tmp").unwrap().is_empty());
    // Listing follows symlinks in the path itself (inside only).
    f.link("alloc/data/logs", "../logs");
    assert_eq!(f.fs.list(ID, "alloc/data/logs").unwrap().len(), 1);
}

#[test]
fn list_errors() {
    let f = fixture();
    f.write("x.txt", b"x");
    assert_eq!(f.fs.list(ID, "x.txt"), Err(FsError::NotADirectory));
    assert_eq!(f.fs.list(ID, "x.txt/"), Err(FsError::NotADirectory));
    assert_eq!(f.fs.list(ID, "x.txt/sub"), Err(FsError::NotADirectory));
    assert_eq!(f.fs.stat(ID, "x.txt/sub"), Err(FsError::NotADirectory));
    assert_eq!(read_all(&f, "x.txt/sub"), Err(FsError::NotADirectory));
    assert_eq!(f.fs.list(ID, "missing"), Err(FsError::NotFound));
    assert_eq!(f.fs.list(ID, "missing/deeper"), Err(FsError::NotFound));
    f.link("alloc/data/filelink", "../../x.txt");
    assert_eq!(
        f.fs.list(ID, "alloc/data/filelink"),
        Err(FsError::NotADirectory)
    );
}

#[test]
fn list_shows_non_utf8_names_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(f.path("alloc/tmp").join(name), b"x").unwrap();
    let entries = f.fs.list(ID, "alloc/tmp").unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "bad\u{fffd}name");
}

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
    assert_eq!(f.fs.list(ID, "web/secrets").unwrap().len(), 1);
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
    let listed: Vec<_> =
        f.fs.list(ID, "alloc/tmp")
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
    assert_eq!(f.fs.list(ID, "alloc/tmp/fifo"), Err(FsError::NotADirectory));
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

#[test]
fn deeply_nested_real_files_work() {
    let f = fixture();
    let deep = "d/".repeat(200);
    f.write(&format!("alloc/data/{deep}f.txt"), b"deep");
    assert_eq!(
        read_all(&f, &format!("alloc/data/{deep}f.txt")).unwrap(),
        b"deep"
    );
    assert_eq!(
        f.fs.list(ID, &format!("alloc/data/{deep}")).unwrap().len(),
        1
    );
}

#[test]
fn read_at_offsets() {
    let f = fixture();
    let p = "alloc/logs/web.stdout.0";
    let read = |off, len| f.fs.read_at(ID, p, off, len, &tasks()).unwrap();
    assert_eq!(read(0, 4), b"0123");
    assert_eq!(read(3, 4), b"3456");
    assert_eq!(read(8, 10), b"89");
    assert_eq!(read(0, u32::MAX), b"0123456789");
    assert!(read(10, 5).is_empty());
    assert!(read(1_000, 5).is_empty());
    assert!(read(u64::MAX, 5).is_empty());
    assert!(read(1 << 63, 5).is_empty());
    assert!(read(0, 0).is_empty());
}

#[test]
fn read_at_spans_multiple_chunks() {
    let f = fixture();
    let data: Vec<u8> = (0..(READ_CHUNK * 2 + 17))
        .map(|i| (i % 251) as u8)
        .collect();
    f.write("alloc/data/big", &data);
    let got =
        f.fs.read_at(ID, "alloc/data/big", 5, u32::MAX, &[])
            .unwrap();
    assert_eq!(got, &data[5..]);
}

#[test]
fn open_file_returns_blocking_readable_file() {
    let f = fixture();
    let file = f.fs.open_file(ID, "web/local/ok.txt", &tasks()).unwrap();
    let flags = rustix::fs::fcntl_getfl(&file).unwrap();
    assert!(!flags.contains(OFlags::NONBLOCK));
    assert!(!flags.contains(OFlags::PATH));
    let fd_flags = rustix::io::fcntl_getfd(&file).unwrap();
    assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
    assert_eq!(open_read(&f, "web/local/ok.txt").unwrap(), b"ok");
}

#[test]
fn inode_swap_is_detected() {
    let f = fixture();
    let a = rustix::fs::stat(f.path("web/local/ok.txt").as_path()).unwrap();
    let b = rustix::fs::stat(f.path("web/secrets2.txt").as_path()).unwrap();
    let fifo = f.path("alloc/tmp/fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo.as_path(),
        FileType::Fifo,
        Mode::empty(),
        0,
    )
    .unwrap();
    let c = rustix::fs::stat(fifo.as_path()).unwrap();
    assert!(same_inode(&a, &a));
    assert!(!same_inode(&a, &b));
    assert!(
        !same_inode(&c, &c),
        "a FIFO is never taken for the regular file"
    );
}

#[test]
fn errors_never_mention_host_paths() {
    let f = fixture();
    let prefix = f.host_prefix();
    let long = "z".repeat(300);
    let mut seen = Vec::new();
    for p in [
        "\0",
        &long,
        "..",
        "missing",
        "/etc/passwd",
        "web/secrets/token",
    ] {
        seen.push(f.fs.stat(ID, p).err());
        seen.push(f.fs.list(ID, p).err());
        seen.push(read_all(&f, p).err());
    }
    for e in seen.into_iter().flatten() {
        let text = e.to_string();
        assert!(!text.contains(&prefix), "{text}");
        assert!(!text.contains(ID), "{text}");
    }
    assert_eq!(describe(Errno::IO), "input/output error (os error 5)");
}

#[test]
fn path_helpers() {
    assert!(is_within(b"/a/b", b"/a/b"));
    assert!(is_within(b"/a/b/c", b"/a/b"));
    assert!(!is_within(b"/a/bc", b"/a/b"));
    assert!(!is_within(b"/a", b"/a/b"));
    assert!(is_within(b"/x", b"/"));
    assert_eq!(join(b"/r", &[b"t", b"secrets"]), b"/r/t/secrets");
    assert_eq!(join(b"/", &[b"t"]), b"/t");
    assert_eq!(relative("///"), Ok("."));
    assert_eq!(relative("/a/b"), Ok("a/b"));
    assert_eq!(display_name("a/b//"), "b");
    assert_eq!(relative("a/../.."), Err(FsError::EscapesAllocDir));
    assert_eq!(relative("a/b/../../c"), Ok("a/b/../../c"));
}

#[test]
fn offsets_near_the_end_of_the_offset_space_read_nothing() {
    let f = fixture();
    let max = u64::try_from(i64::MAX).unwrap();
    for offset in [max - 1, max, max + 1, u64::MAX, 1 << 62] {
        for len in [1, 512, u32::MAX] {
            assert_eq!(
                f.fs.read_at(ID, "alloc/logs/web.stdout.0", offset, len, &tasks()),
                Ok(Vec::new()),
                "offset {offset}, len {len}"
            );
        }
    }
}

/// Atomic writers replace a file by renaming a new one over it; the name always points at
/// a complete file, so every read must succeed with one of the versions.
#[test]
fn a_file_replaced_by_rename_is_always_readable() {
    let f = fixture();
    let target = f.path("alloc/data/config.json");
    let versions: [&[u8]; 2] = [b"version one", b"second version"];
    std::fs::write(&target, versions[0]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (stop, renames, target) = (stop.clone(), renames.clone(), target.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tmp = target.with_extension(format!("tmp{}", i % 2));
                std::fs::write(&tmp, versions[i % 2]).unwrap();
                std::fs::rename(&tmp, &target).unwrap();
                i += 1;
                renames.store(i, std::sync::atomic::Ordering::Relaxed);
            }
            i
        })
    };
    // Read until both sides have done their share, however the threads are scheduled.
    let mut reads = 0;
    while reads < 500 || renames.load(std::sync::atomic::Ordering::Relaxed) < 500 {
        let read = read_all(&f, "alloc/data/config.json").expect("always readable");
        assert!(
            versions.contains(&read.as_slice()),
            "a whole version: {read:?}"
        );
        let file =
            f.fs.open_file(ID, "alloc/data/config.json", &tasks())
                .expect("always opens");
        drop(file);
        reads += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        writer.join().unwrap() >= 500,
        "the writer replaced the file"
    );
}
