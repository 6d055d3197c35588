//! Our own traversal generator (issue 13): every path-taking parameter gets traversal
//! paths built from depths × separators × every encoding the API decodes, aimed at
//! canaries outside the data root, in the data root, in a sibling allocation and in a
//! task's `secrets/` and `private/`. No canary byte, no 5xx, no hang, no host path.
//!
//! Layout (the data dir sits one level below a directory of our own):
//!
//! ```text
//! <top>/canary-top.txt                                    outside the data root
//! <top>/canary.stdout.0                                   outside, named like a log
//! <top>/data/canary-data.txt                              the data root, outside the alloc root
//! <top>/data/alloc/<sibling>/alloc/data/canary-sib.txt    a sibling allocation
//! <top>/data/alloc/<demo>/demo/secrets/canary-secret.txt  the demo task's secrets
//! <top>/data/alloc/<demo>/demo/private/canary-private.txt the demo task's private dir
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{Agent, place, request};

const TOP: &str = "CANARY-TOP-5d1f0c";
const DATA: &str = "CANARY-DATA-a83e77";
const SIBLING: &str = "CANARY-SIBLING-42b9d0";
const SECRET: &str = "CANARY-SECRET-9c2e15";
const PRIVATE: &str = "CANARY-PRIVATE-e0f4a1";
const CANARIES: [&str; 5] = [TOP, DATA, SIBLING, SECRET, PRIVATE];

/// How one path element is written into the request target.
#[derive(Clone, Copy, Debug)]
enum Enc {
    Plain,
    Percent,
    PercentUpper,
    MixedCase,
    DoublePercent,
    /// Overlong 2-byte UTF-8: `.` as `%c0%ae`, `/` as `%c0%af`, `\` as `%c1%9c`.
    Overlong,
    /// Overlong 3-byte UTF-8: `.` as `%e0%80%ae`, `/` as `%e0%80%af`.
    Overlong3,
    /// U+2024 ONE DOT LEADER for each dot.
    DotLeader,
    /// U+2025 TWO DOT LEADER for `..`.
    TwoDotLeader,
    /// U+FF0E FULLWIDTH FULL STOP for dots, U+FF0F FULLWIDTH SOLIDUS for `/`.
    Fullwidth,
    /// The same fullwidth characters as raw UTF-8 in the request line.
    FullwidthRaw,
    /// `..` with U+2215 DIVISION SLASH for `/`.
    DivisionSlash,
    /// `..%00` then the separator.
    Nul,
    /// `.%2e` with a percent-encoded separator.
    HalfEncoded,
}

const ENCODINGS: [Enc; 14] = [
    Enc::Plain,
    Enc::Percent,
    Enc::PercentUpper,
    Enc::MixedCase,
    Enc::DoublePercent,
    Enc::Overlong,
    Enc::Overlong3,
    Enc::DotLeader,
    Enc::TwoDotLeader,
    Enc::Fullwidth,
    Enc::FullwidthRaw,
    Enc::DivisionSlash,
    Enc::Nul,
    Enc::HalfEncoded,
];

const SEPARATORS: [&str; 4] = ["/", "\\", "//", "/./"];

fn pct(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

impl Enc {
    /// `..` in this encoding.
    fn dots(self) -> String {
        match self {
            Enc::Plain | Enc::DivisionSlash => "..".into(),
            Enc::Percent => "%2e%2e".into(),
            Enc::PercentUpper => "%2E%2E".into(),
            Enc::MixedCase => "%2e%2E".into(),
            Enc::DoublePercent => "%252e%252e".into(),
            Enc::Overlong => "%c0%ae%c0%ae".into(),
            Enc::Overlong3 => "%e0%80%ae%e0%80%ae".into(),
            Enc::DotLeader => "%e2%80%a4%e2%80%a4".into(),
            Enc::TwoDotLeader => "%e2%80%a5".into(),
            Enc::Fullwidth => "%ef%bc%8e%ef%bc%8e".into(),
            Enc::FullwidthRaw => "\u{ff0e}\u{ff0e}".into(),
            Enc::Nul => "..%00".into(),
            Enc::HalfEncoded => ".%2e".into(),
        }
    }

    /// A separator in this encoding (each character of it).
    fn sep(self, sep: &str) -> String {
        sep.chars()
            .map(|c| match (self, c) {
                (Enc::Plain | Enc::Nul | Enc::DotLeader | Enc::TwoDotLeader, c) => c.to_string(),
                (Enc::Percent | Enc::HalfEncoded, c) => pct(c.to_string().as_bytes(), false),
                (Enc::PercentUpper, c) => pct(c.to_string().as_bytes(), true),
                (Enc::MixedCase, '/') => "%2F".into(),
                (Enc::MixedCase, '\\') => "%5c".into(),
                (Enc::MixedCase, '.') => "%2E".into(),
                (Enc::DoublePercent, c) => pct(c.to_string().as_bytes(), false).replace('%', "%25"),
                (Enc::Overlong, '/') => "%c0%af".into(),
                (Enc::Overlong, '\\') => "%c1%9c".into(),
                (Enc::Overlong, '.') => "%c0%ae".into(),
                (Enc::Overlong3, '/') => "%e0%80%af".into(),
                (Enc::Overlong3, '\\') => "%e0%81%9c".into(),
                (Enc::Overlong3, '.') => "%e0%80%ae".into(),
                (Enc::Fullwidth, '/') => "%ef%bc%8f".into(),
                (Enc::Fullwidth, '\\') => "%ef%bc%bc".into(),
                (Enc::Fullwidth, '.') => "%ef%bc%8e".into(),
                (Enc::FullwidthRaw, '/') => "\u{ff0f}".into(),
                (Enc::FullwidthRaw, '\\') => "\u{ff3c}".into(),
                (Enc::FullwidthRaw, '.') => "\u{ff0e}".into(),
                (Enc::DivisionSlash, '/') => "%e2%88%95".into(),
                (Enc::DivisionSlash, c) => c.to_string(),
                (_, c) => c.to_string(),
            })
            .collect()
    }

    /// `depth` times `..` and a separator, then `suffix` with its `/`s as that separator.
    fn traverse(self, depth: usize, sep: &str, suffix: &str) -> String {
        let step = format!("{}{}", self.dots(), self.sep(sep));
        let rest = suffix.split('/').collect::<Vec<_>>().join(&self.sep(sep));
        format!("{}{rest}", step.repeat(depth))
    }
}

/// Every (encoding, separator, depth) combination, with a label for failure messages.
fn prefixes(depths: std::ops::RangeInclusive<usize>) -> Vec<(Enc, &'static str, usize)> {
    let mut out = Vec::new();
    for enc in ENCODINGS {
        for sep in SEPARATORS {
            for depth in depths.clone() {
                out.push((enc, sep, depth));
            }
        }
    }
    out
}

#[test]
fn generated_traversals_reach_no_canary() {
    let top = tempfile::tempdir().unwrap();
    let data_dir = top.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(top.path().join("canary-top.txt"), TOP).unwrap();
    std::fs::write(top.path().join("canary.stdout.0"), TOP).unwrap();
    std::fs::write(data_dir.join("canary-data.txt"), DATA).unwrap();
    let agent = Agent::start_in(&data_dir, &[]);
    let demo = agent.demo_alloc.clone();
    let sibling = place(&agent, &["web"]);
    let alloc_root = data_dir.join("alloc");
    std::fs::write(
        alloc_root.join(&sibling).join("alloc/data/canary-sib.txt"),
        SIBLING,
    )
    .unwrap();
    let task_dir = alloc_root.join(&demo).join("demo");
    std::fs::write(task_dir.join("secrets/canary-secret.txt"), SECRET).unwrap();
    std::fs::write(task_dir.join("secrets/canary.stdout.0"), SECRET).unwrap();
    std::fs::create_dir_all(task_dir.join("private")).unwrap();
    std::fs::write(task_dir.join("private/canary-private.txt"), PRIVATE).unwrap();
    std::fs::write(task_dir.join("private/canary.stdout.0"), PRIVATE).unwrap();

    // (label, request target) pairs, all generated up front so the count is known.
    let mut targets: Vec<(String, String)> = Vec::new();
    let path_ops = ["ls", "stat", "cat", "readat", "stream"];
    let path_target = |op: &str, alloc: &str, path: &str| -> String {
        let extra = match op {
            "readat" => "&offset=0&limit=4096",
            "stream" => "&offset=0&follow=false",
            _ => "",
        };
        format!("/v1/client/fs/{op}/{alloc}?path={path}{extra}")
    };

    // 1. `path` on every fs operation of the demo allocation: up out of it, towards the
    //    canaries above the data root and in the sibling allocation.
    for (enc, sep, depth) in prefixes(1..=6) {
        for suffix in [
            "canary-top.txt".to_string(),
            format!("{sibling}/alloc/data/canary-sib.txt"),
        ] {
            let path = enc.traverse(depth, sep, &suffix);
            for op in path_ops {
                targets.push((
                    format!("{op} {enc:?} {sep:?} depth {depth} -> {suffix}"),
                    path_target(op, &demo, &path),
                ));
            }
        }
    }
    // 2. `path` into the task's secrets/ and private/ (readable operations only: listing
    //    those directories is allowed, as in Nomad), straight and through detours.
    for enc in ENCODINGS {
        for sep in SEPARATORS {
            for (dir, file) in [
                ("secrets", "canary-secret.txt"),
                ("private", "canary-private.txt"),
            ] {
                let s = enc.sep(sep);
                let d = enc.dots();
                let forms = [
                    format!("demo{s}{dir}{s}{file}"),
                    format!("demo{s}local{s}{d}{s}{dir}{s}{file}"),
                    format!("alloc{s}{d}{s}demo{s}{dir}{s}{file}"),
                    format!("{d}{s}{demo}{s}demo{s}{dir}{s}{file}"),
                ];
                for (i, path) in forms.iter().enumerate() {
                    for op in ["cat", "readat", "stream"] {
                        targets.push((
                            format!("{op} {enc:?} {sep:?} form {i} -> {dir}"),
                            path_target(op, &demo, path),
                        ));
                    }
                }
            }
        }
    }
    // 3. `task` and `type` on fs/logs: the log file is `alloc/logs/<task>.<type>.<N>`, and
    //    files named like logs wait outside the root, in secrets/ and in private/.
    let logs = |task: &str, kind: &str| {
        format!(
            "/v1/client/fs/logs/{demo}?task={task}&type={kind}&origin=start&offset=0\
             &plain=true&follow=false"
        )
    };
    for (enc, sep, depth) in prefixes(1..=6) {
        for suffix in ["canary", "demo/secrets/canary", "demo/private/canary"] {
            let task = enc.traverse(depth, sep, suffix);
            targets.push((
                format!("logs task {enc:?} {sep:?} depth {depth} -> {suffix}"),
                logs(&task, "stdout"),
            ));
        }
        let kind = format!("stdout.0{}", enc.traverse(depth, sep, "canary-top.txt"));
        targets.push((
            format!("logs type {enc:?} {sep:?} depth {depth}"),
            logs("demo", &kind),
        ));
    }
    // 4. The allocation id segment itself: an "id" that climbs out of the alloc root (the
    //    data root is one level up, the top two), alone or after the demo id.
    for (enc, sep, depth) in prefixes(1..=3) {
        let climb = enc.traverse(depth, sep, "");
        for id in [climb.clone(), format!("{demo}{}{climb}", enc.sep(sep))] {
            for (op, path) in [
                ("cat", "canary-data.txt"),
                ("cat", "canary-top.txt"),
                ("stream", "canary-data.txt"),
            ] {
                targets.push((
                    format!("{op} id {enc:?} {sep:?} depth {depth}"),
                    path_target(op, &id, path),
                ));
            }
        }
        targets.push((
            format!("logs id {enc:?} {sep:?} depth {depth}"),
            format!(
                "/v1/client/fs/logs/{climb}?task=canary&type=stdout&origin=start&plain=true\
                 &follow=false"
            ),
        ));
    }

    let total = targets.len();
    let host_paths = [
        top.path().to_string_lossy().into_owned(),
        agent.data_dir.to_string_lossy().into_owned(),
    ];
    let next = AtomicUsize::new(0);
    let statuses = Mutex::new(BTreeMap::<u16, usize>::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((label, target)) = targets.get(i) else {
                        return;
                    };
                    // A request that hangs fails in `request`, which gives up after PATIENCE.
                    let reply = request(&agent.addr, "GET", target, &[], b"");
                    let text = reply.text();
                    for canary in CANARIES {
                        assert!(
                            !text.contains(canary),
                            "{label}: {target} leaked {canary}: {text}"
                        );
                    }
                    assert!(
                        reply.status < 500,
                        "{label}: {target}: {} {text}",
                        reply.status
                    );
                    for path in &host_paths {
                        assert!(
                            !text.contains(path.as_str()),
                            "{label}: {target} named a host path: {text}"
                        );
                    }
                    *statuses.lock().unwrap().entry(reply.status).or_default() += 1;
                }
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    assert_eq!(statuses.values().sum::<usize>(), total);
    eprintln!("traversal: {total} requests, 5 canaries, statuses {statuses:?}");

    // The canaries are where the generator aims: each is readable by a legitimate request
    // (the sibling through its own id) or refused for the right reason, so a clean run
    // above is not an accident of a wrong layout.
    let sib = agent.get(&format!(
        "/v1/client/fs/cat/{sibling}?path=alloc/data/canary-sib.txt"
    ));
    assert_eq!((sib.status, sib.text().as_str()), (200, SIBLING));
    for (dir, file) in [
        ("secrets", "canary-secret.txt"),
        ("private", "canary-private.txt"),
    ] {
        let reply = agent.get(&format!("/v1/client/fs/cat/{demo}?path=demo/{dir}/{file}"));
        assert_eq!(reply.status, 403, "{}", reply.text());
    }
}
