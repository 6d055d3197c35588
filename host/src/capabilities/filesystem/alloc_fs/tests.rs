//! The fixture every filesystem test shares: Nomad's layout for one allocation, with data
//! outside it; the tests themselves are grouped by concern below.
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

/// Every entry of a listing, read two at a time so the paging is exercised too.
fn list_all(fs: &AllocFs, id: &str, path: &str) -> Result<Vec<FileInfo>, FsError> {
    let mut listing = fs.list(id, path)?;
    let mut all = Vec::new();
    loop {
        let page = listing.next(2)?;
        let done = page.len() < 2;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
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
    assert_eq!(
        list_all(&f.fs, ID, path),
        Err(want.clone()),
        "list {path:?}"
    );
    assert_eq!(
        f.fs.open_file(ID, path, &tasks()).map(|_| ()),
        Err(want.clone()),
        "open_file {path:?}"
    );
    assert_eq!(read_all(f, path), Err(want), "read_at {path:?}");
}

mod containment;

mod listing;

mod protected;

mod reading;
