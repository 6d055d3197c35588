use super::*;

/// A rotator whose indexes go to `<dir>/idx`.
fn open(dir: &Path, base: &str, max_files: u32, max_size: u64) -> Rotator {
    Rotator::open(dir, &dir.join("idx"), base, max_files, max_size).unwrap()
}

fn files(dir: &Path, base: &str) -> Vec<(u64, Vec<u8>)> {
    let mut found = indices(dir, base).unwrap();
    found.sort_unstable();
    found
        .into_iter()
        .map(|i| (i, std::fs::read(dir.join(format!("{base}.{i}"))).unwrap()))
        .collect()
}

fn concat(dir: &Path, base: &str) -> Vec<u8> {
    files(dir, base).into_iter().flat_map(|(_, d)| d).collect()
}

#[test]
fn starts_at_zero_with_mode_0644() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = open(tmp.path(), "web.stdout", 3, 100);
    r.write(b"hello\n").unwrap();
    let meta = std::fs::metadata(tmp.path().join("web.stdout.0")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_eq!(concat(tmp.path(), "web.stdout"), b"hello\n");
}

#[test]
fn indexes_stay_out_of_the_logs_dir_and_go_with_their_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, idx) = (tmp.path().join("logs"), tmp.path().join("private/logindex"));
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir_all(idx.parent().unwrap()).unwrap();
    let mut r = Rotator::open(&logs, &idx, "t.stdout", 2, 4).unwrap();
    for line in [b"a\n", b"b\n", b"c\n", b"d\n"] {
        r.write(line).unwrap();
        r.write(line).unwrap();
    }
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&logs), ["t.stdout.2", "t.stdout.3"]);
    assert_eq!(names(&idx), ["t.stdout.2.idx", "t.stdout.3.idx"]);
}

#[test]
fn rotation_keeps_lines_whole_near_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    // With a limit below the scan window, every write is "near the end".
    let mut r = open(tmp.path(), "t.stdout", 100, 10);
    r.write(b"aaa\nbbb\nccc\n").unwrap();
    r.write(b"dd").unwrap();
    r.write(b"d\n").unwrap();
    let got = files(tmp.path(), "t.stdout");
    assert_eq!(
        got,
        [
            (0, b"aaa\nbbb\n".to_vec()),
            (1, b"ccc\n".to_vec()),
            (2, b"ddd\n".to_vec())
        ]
    );
}

#[test]
fn lines_longer_than_a_file_are_split_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = open(tmp.path(), "t.stdout", 100, 4);
    r.write(b"0123456789\nab").unwrap();
    let got = files(tmp.path(), "t.stdout");
    assert!(got.iter().all(|(_, d)| d.len() <= 4), "{got:?}");
    assert_eq!(concat(tmp.path(), "t.stdout"), b"0123456789\nab");
}

#[test]
fn far_from_the_limit_partial_lines_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 4 * LINE_SCAN_LIMIT;
    let mut r = open(tmp.path(), "t.stdout", 10, limit);
    r.write(b"partial").unwrap();
    r.write(b" line\n").unwrap();
    assert_eq!(
        files(tmp.path(), "t.stdout"),
        [(0, b"partial line\n".to_vec())]
    );
}

#[test]
fn an_unfinished_line_in_the_scan_window_moves_to_the_next_file() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 2 * LINE_SCAN_LIMIT;
    let mut r = open(tmp.path(), "t.stdout", 10, limit);
    let first = vec![b'x'; (limit - 100) as usize];
    r.write(&first).unwrap();
    r.write(b"\n").unwrap();
    r.write(b"next line").unwrap();
    r.write(b" ends\n").unwrap();
    let got = files(tmp.path(), "t.stdout");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1.len() as u64, limit - 99);
    assert_eq!(got[1].1, b"next line ends\n");
}

#[test]
fn keeps_at_most_max_files_and_resumes_at_the_next_index() {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    {
        let mut r = open(tmp.path(), "t.stderr", 3, 8);
        for i in 0..20 {
            let line = format!("line{i:02}\n");
            all.extend_from_slice(line.as_bytes());
            r.write(line.as_bytes()).unwrap();
        }
        assert_eq!(r.index(), 19);
    }
    let got = files(tmp.path(), "t.stderr");
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [17, 18, 19]
    );
    assert!(all.ends_with(&concat(tmp.path(), "t.stderr")));

    let mut r = open(tmp.path(), "t.stderr", 3, 8);
    assert_eq!(r.index(), 20, "a new run starts after the highest file");
    r.write(b"again\n").unwrap();
    let got = files(tmp.path(), "t.stderr");
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [18, 19, 20]
    );
    assert_eq!(got[1].1, b"line19\n", "earlier files are untouched");
}

#[test]
fn an_empty_highest_file_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("t.stdout.4"), b"").unwrap();
    std::fs::write(tmp.path().join("t.stdout.2"), b"old").unwrap();
    let r = open(tmp.path(), "t.stdout", 10, 100);
    assert_eq!(r.index(), 4);
}

#[test]
fn never_follows_symlinks_or_writes_into_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"").unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::os::unix::fs::symlink(&outside, logs.join("t.stdout.0")).unwrap();
    std::fs::create_dir(logs.join("t.stdout.1")).unwrap();
    let mut r = open(&logs, "t.stdout", 10, 100);
    r.write(b"x\n").unwrap();
    assert_eq!(r.index(), 2);
    assert_eq!(std::fs::read(&outside).unwrap(), b"");
}

#[test]
fn other_names_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "t.stdout.x",
        "t.stdout.",
        "t.stdout.1.bak",
        "t.stdout.stdout.9",
        "u.stdout.7",
    ] {
        std::fs::write(tmp.path().join(name), b"keep").unwrap();
    }
    let mut r = open(tmp.path(), "t.stdout", 1, 2);
    assert_eq!(r.index(), 0);
    r.write(b"a\nb\nc\n").unwrap();
    assert_eq!(indices(tmp.path(), "t.stdout").unwrap(), [2]);
    // The six, and the directory of indexes.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 7);
}

#[test]
fn pump_copies_a_large_stream_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    let mut x: u32 = 1;
    while data.len() < 3_000_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // About one newline every 200 bytes, and some very long lines.
        data.push(if x.is_multiple_of(200) {
            b'\n'
        } else {
            (x >> 8) as u8 | 1
        });
    }
    let mut r = open(tmp.path(), "t.stdout", 1000, 100_000);
    pump(&data[..], &mut r, "test");
    assert!(concat(tmp.path(), "t.stdout") == data);
    assert!(
        files(tmp.path(), "t.stdout")
            .iter()
            .all(|(_, d)| d.len() <= 100_000)
    );
}
