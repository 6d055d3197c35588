//! Reads: offsets, chunks, replaced files, and errors that never name host paths.
use super::*;

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
        list_all(&f.fs, ID, &format!("alloc/data/{deep}"))
            .unwrap()
            .len(),
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
        seen.push(list_all(&f.fs, ID, p).err());
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
