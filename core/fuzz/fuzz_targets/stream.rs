//! `fs/stream` and `fs/logs` bodies under appends, truncations, deletions, replacements and
//! rotations between pulls, with `now_ms` advancing arbitrarily: every chunk is well-formed
//! frames (or plain bytes), and the stream never yields after its end.

#![no_main]

use arbitrary::Arbitrary;
use caravan_core::fake::{ALLOC, Fake};
use caravan_core::http::{Action, Request};
use caravan_core_fuzz::*;
use libfuzzer_sys::fuzz_target;

const FILES: &[&str] = &[
    "alloc/logs/web.stdout.0",
    "alloc/logs/web.stdout.1",
    "alloc/logs/web.stdout.2",
    "alloc/logs/web.stdout.10",
    "alloc/logs/web.stderr.0",
    "alloc/logs/web.stdout.x",
    "alloc/data/page.html",
    "alloc/data/empty",
    "alloc/logs/web.stdout.0/inner",
];

#[derive(Debug, Arbitrary)]
enum Op {
    Append(u8, Vec<u8>),
    /// Same inode, new content (a truncation when shorter).
    Set(u8, Vec<u8>),
    Remove(u8),
    /// A new file under the same name (another inode).
    Replace(u8, Vec<u8>),
    /// Pull after `now_ms` advanced by this much.
    Pull(u32),
}

#[derive(Debug, Arbitrary)]
struct Input {
    logs: bool,
    stderr: bool,
    file: u8,
    follow: Option<bool>,
    plain: Option<bool>,
    origin_end: bool,
    offset: Option<i64>,
    lines: Option<i16>,
    initial: Vec<(u8, Vec<u8>)>,
    ops: Vec<Op>,
}

fn file(i: u8) -> &'static str {
    FILES[i as usize % FILES.len()]
}

fuzz_target!(|input: Input| {
    let host = Fake::default();
    host.start_task();
    for (i, data) in input.initial.iter().take(4) {
        host.set(file(*i), data);
    }
    let mut query = vec![];
    let op = if input.logs {
        query.push("task=web".to_string());
        query.push(format!(
            "type={}",
            if input.stderr { "stderr" } else { "stdout" }
        ));
        if let Some(plain) = input.plain {
            query.push(format!("plain={plain}"));
        }
        if let Some(lines) = input.lines {
            query.push(format!("lines={lines}"));
        }
        "logs"
    } else {
        query.push(format!("path={}", file(input.file)));
        "stream"
    };
    if let Some(follow) = input.follow {
        query.push(format!("follow={follow}"));
    }
    if input.origin_end {
        query.push("origin=end".into());
    }
    if let Some(offset) = input.offset {
        query.push(format!("offset={offset}"));
    }
    let req = Request {
        method: "GET".into(),
        path: format!("/v1/client/fs/{op}/{ALLOC}"),
        query: query.join("&"),
        ..Request::default()
    };
    let action = caravan_core::handle(&host, &req);
    let framing = framing(&action);
    let mut start = match action {
        Action::Stream(start) => start,
        Action::Respond(response) => {
            check_response(&response, true);
            return;
        }
        other => panic!("{req:?} -> {other:?}"),
    };
    assert_eq!(start.status, 200);
    let mut inode = 100;
    let mut steps = Vec::new();
    let mut changes: Vec<Vec<&Op>> = vec![Vec::new()];
    for op in input.ops.iter().take(64) {
        match op {
            Op::Pull(ms) => {
                steps.push(u64::from(*ms));
                changes.push(Vec::new());
            }
            other => changes.last_mut().unwrap().push(other),
        }
    }
    steps.push(1);
    let apply = |host: &Fake, op: &Op, inode: &mut u64| match op {
        Op::Append(i, data) => host.append(file(*i), data),
        Op::Set(i, data) => host.set(file(*i), data),
        Op::Remove(i) => host.remove(file(*i)),
        Op::Replace(i, data) => {
            *inode += 1;
            host.set(file(*i), data);
            host.inodes
                .borrow_mut()
                .insert(file(*i).to_string(), *inode);
        }
        Op::Pull(_) => {}
    };
    for op in &changes[0] {
        apply(&host, op, &mut inode);
    }
    pull(&host, &mut start.body, framing, true, steps, |i| {
        for op in changes.get(i + 1).into_iter().flatten() {
            apply(&host, op, &mut inode);
        }
    });
});
