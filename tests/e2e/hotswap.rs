//! Hot swap: swaps under load lose nothing, every kind of bad candidate is turned away
//! with the old core still serving, each trigger works, the compiled cache is used and
//! guarded, and a faulty core harms only its own requests.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caravan::runtime::{DEFAULT_CORE, FAULTY_TEST_CORE, START_TRAP_TEST_CORE};
use sha2::{Digest, Sha256};

use crate::support::{Agent, PATIENCE, Reply, wait_for, wait_log, wait_until};

pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `core` with a custom section appended (id 0, LEB128 size, name, payload): a valid
/// component that behaves the same, with other bytes and so another SHA-256.
pub(crate) fn variant(core: &[u8], name: &str) -> Vec<u8> {
    let mut section = Vec::new();
    leb128(&mut section, name.len());
    section.extend_from_slice(name.as_bytes());
    section.extend_from_slice(b"a caravan test variant");
    let mut bytes = core.to_vec();
    bytes.push(0);
    leb128(&mut bytes, section.len());
    bytes.extend_from_slice(&section);
    bytes
}

/// The default core reporting another version: the version string is patched in its data
/// segment (same length, so the component stays valid and behaves the same otherwise).
/// Responses then tell by their `x-caravan-core` header which core served them.
fn renamed(core: &[u8], version: &str) -> Vec<u8> {
    let current = b"caravan-core/0.1.0";
    assert_eq!(version.len(), current.len());
    let at: Vec<usize> = core
        .windows(current.len())
        .enumerate()
        .filter(|(_, w)| w == current)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the core's version string is not where this test expects"
    );
    let mut bytes = core.to_vec();
    bytes[at[0]..at[0] + current.len()].copy_from_slice(version.as_bytes());
    bytes
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn status(agent: &Agent) -> serde_json::Value {
    let reply = agent.get("/v1/agent/core");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn serving(agent: &Agent) -> String {
    status(agent)["SHA256"].as_str().unwrap().to_string()
}

/// `LoadedAt` (RFC 3339 in UTC, as the agent writes it) as a point in time.
fn loaded_at(status: &serde_json::Value) -> SystemTime {
    let text = status["LoadedAt"].as_str().unwrap();
    let number = |range: std::ops::Range<usize>| -> i64 { text[range].parse().unwrap() };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let seconds_of_day = number(11..13) * 3600 + number(14..16) * 60 + number(17..19);
    let fraction = text[19..text.len() - 1].trim_start_matches('.');
    let nanos = format!("{fraction:0<9}").parse::<u32>().unwrap();
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    UNIX_EPOCH + Duration::new((days * 86_400 + seconds_of_day) as u64, nanos)
}

fn put_core(agent: &Agent, bytes: &[u8]) -> Reply {
    agent.request("PUT", "/v1/agent/core", &[], bytes)
}

/// Write beside `path`, then rename over it, as deployment tools do.
fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn caravan(args: &[&str], nomad_addr: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command.args(args);
    if let Some(addr) = nomad_addr {
        command.env("NOMAD_ADDR", addr);
    }
    command.output().unwrap()
}

/// An agent serving its core from a file it watches.
struct Watched {
    agent: Agent,
    core_file: PathBuf,
    temp: tempfile::TempDir,
}

fn start_watched(core: &[u8], extra: &[&str]) -> Watched {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("cores");
    std::fs::create_dir(&dir).unwrap();
    let core_file = dir.join("core.wasm");
    std::fs::write(&core_file, core).unwrap();
    let mut flags = vec![format!("-core={}", core_file.display())];
    flags.extend(extra.iter().map(|f| f.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent = Agent::start_in(&temp.path().join("data"), &flags);
    Watched {
        agent,
        core_file,
        temp,
    }
}

/// A keep-alive HTTP/1.1 connection, so the load measures the agent rather than
/// connection set-up.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// Status and `x-caravan-core` of one GET; the body is read and dropped.
    fn get(&mut self, target: &str) -> std::io::Result<(u16, Option<String>)> {
        let request = format!("GET {target} HTTP/1.1\r\nHost: caravan\r\n\r\n");
        self.reader.get_mut().write_all(request.as_bytes())?;
        let (status, headers) = read_head(&mut self.reader)?;
        let length: usize = header(&headers, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| std::io::Error::other("no content-length"))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, header(&headers, "x-caravan-core")))
    }
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed before a response"));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            return Ok((status, headers));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// A long request: `fs/cat` of `expected`, read slowly while `slow` is set, then at full
/// speed. While `slow` is set, the last [`HELD_BACK`] bytes are not read at all, so the
/// request lasts until `slow` is cleared however long that takes (more than the socket
/// buffers hold, so the agent is still sending). Returns how many bytes had arrived when
/// `slow` was cleared, so the caller can tell the request really spanned that period.
fn long_cat(
    addr: String,
    target: String,
    expected: Arc<Vec<u8>>,
    slow: Arc<AtomicBool>,
    ready: Arc<AtomicUsize>,
) -> Result<usize, String> {
    let fail = |what: String| Err(what);
    let mut stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(PATIENCE))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: caravan\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader).map_err(|e| e.to_string())?;
    let length = header(&headers, "content-length");
    if status != 200 || length != Some(expected.len().to_string()) {
        return fail(format!("status {status}, content-length {length:?}"));
    }
    ready.fetch_add(1, Ordering::SeqCst);
    let mut buf = vec![0; 32 << 10];
    let (mut received, mut when_fast) = (0, None);
    while received < expected.len() {
        let slowly = slow.load(Ordering::SeqCst);
        if !slowly && when_fast.is_none() {
            when_fast = Some(received);
        }
        if slowly && received >= expected.len() - HELD_BACK {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let want = buf.len().min(expected.len() - received);
        let n = reader
            .read(&mut buf[..want])
            .map_err(|e| format!("after {received} bytes: {e}"))?;
        if n == 0 {
            return fail(format!("connection closed after {received} bytes"));
        }
        if buf[..n] != expected[received..received + n] {
            return fail(format!("wrong bytes at offset {received}"));
        }
        received += n;
        if slowly {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(when_fast.unwrap_or(received))
}

/// What a long request leaves unread until the swaps are over.
const HELD_BACK: usize = 16 << 20;

/// Requests each load client completes on a new core before the next swap begins.
const AFTER_EACH_SWAP: u64 = 50;

#[test]
fn ten_swaps_under_load_fail_no_request_and_new_requests_get_the_new_core() {
    const CLIENTS: usize = 4;
    const RATE_PER_CLIENT: f64 = 320.0;
    const LONG_REQUESTS: usize = 20;
    const SWAPS: usize = 10;
    const BIG: usize = 48 << 20;
    let core_a = DEFAULT_CORE.to_vec();
    let core_b = renamed(DEFAULT_CORE, "caravan-core/swapB");
    let versions = ["caravan-core/0.1.0", "caravan-core/swapB"];
    let watched = start_watched(&core_a, &[]);
    let agent = &watched.agent;
    // The CLI's copies live outside the watched directory.
    let (file_a, file_b) = (
        watched.temp.path().join("a.wasm"),
        watched.temp.path().join("b.wasm"),
    );
    std::fs::write(&file_a, &core_a).unwrap();
    std::fs::write(&file_b, &core_b).unwrap();
    let big: Arc<Vec<u8>> = Arc::new((0..BIG).map(|i| (i % 251) as u8).collect());
    std::fs::write(agent.alloc_dir().join("alloc/data/big.bin"), &*big).unwrap();

    let slow = Arc::new(AtomicBool::new(true));
    let ready = Arc::new(AtomicUsize::new(0));
    let long: Vec<JoinHandle<Result<usize, String>>> = (0..LONG_REQUESTS)
        .map(|_| {
            let (addr, big, slow, ready) =
                (agent.addr.clone(), big.clone(), slow.clone(), ready.clone());
            let target = format!(
                "/v1/client/fs/cat/{}?path=alloc/data/big.bin",
                agent.demo_alloc
            );
            std::thread::spawn(move || long_cat(addr, target, big, slow, ready))
        })
        .collect();

    // And 20 following streams, which must outlive every swap on the core they began with.
    let log = format!(
        "/v1/client/fs/stream/{}?path=alloc/logs/demo.stdout.0",
        agent.demo_alloc
    );
    wait_until("the demo task's log", || {
        agent.get(&log.replace("stream", "stat")).status == 200
    });
    let mut followers: Vec<_> = (0..20).map(|_| agent.open_stream(&log, &[])).collect();
    for follower in &mut followers {
        assert_eq!(follower.status, 200);
        follower.read_some();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    // Each client keeps (sent, answered, serving core) of every request.
    type Served = Vec<(Instant, Instant, String)>;
    let load: Vec<JoinHandle<(Vec<String>, Served)>> = (0..CLIENTS)
        .map(|_| {
            let (addr, stop, completed) = (agent.addr.clone(), stop.clone(), completed.clone());
            std::thread::spawn(move || {
                let (mut failures, mut served) = (Vec::new(), Vec::new());
                let mut conn = Conn::open(&addr).unwrap();
                let interval = Duration::from_secs_f64(1.0 / RATE_PER_CLIENT);
                // A guard should the test fail before it sets `stop`.
                let (mut next, hard_stop) =
                    (Instant::now(), Instant::now() + Duration::from_secs(600));
                while !stop.load(Ordering::SeqCst) && Instant::now() < hard_stop {
                    let sent = Instant::now();
                    match conn.get("/v1/client/metadata") {
                        Ok((200, Some(core))) if versions.contains(&core.as_str()) => {
                            served.push((sent, Instant::now(), core));
                        }
                        Ok(other) => failures.push(format!("{other:?}")),
                        Err(err) => {
                            failures.push(err.to_string());
                            conn = Conn::open(&addr).unwrap();
                        }
                    }
                    completed.fetch_add(1, Ordering::SeqCst);
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                (failures, served)
            })
        })
        .collect();

    wait_until("every long request to begin", || {
        ready.load(Ordering::SeqCst) == LONG_REQUESTS
    });
    // The load is flowing (every client has been answered) before the first swap.
    let flowing = completed.load(Ordering::SeqCst) + CLIENTS as u64 * AFTER_EACH_SWAP;
    wait_until("the load to flow", || {
        completed.load(Ordering::SeqCst) >= flowing
    });
    // The first swap to B compiles it, under the same load: Cranelift needs ~0.3 s on an
    // idle machine, several seconds on a loaded one, so it is only reported. The ten
    // swaps then go between two compiled cores, as a roll-out followed by roll-backs and
    // roll-forwards does.
    let started = Instant::now();
    assert_eq!(put_core(agent, &core_b).status, 200);
    let first_compile = started.elapsed();
    assert_eq!(put_core(agent, &core_a).status, 200);
    let (began, count_before) = (Instant::now(), completed.load(Ordering::SeqCst));
    // Per swap, reported and not asserted (a loaded machine may take any time): from the
    // trigger to the new core serving (`LoadedAt`, stamped by the agent when it stores the
    // pointer), and to this test's polling client seeing it.
    let (mut serving_after, mut seen_after) = (Vec::new(), Vec::new());
    // Per swap: when it began, when it was visible, and the version it installed.
    let mut swaps: Vec<(Instant, Instant, &str)> = Vec::new();
    for swap in 0..SWAPS {
        let (bytes, copy, version) = if swap % 2 == 0 {
            (&core_b, &file_b, versions[1])
        } else {
            (&core_a, &file_a, versions[0])
        };
        let want = sha256(bytes);
        let (started, triggered) = (Instant::now(), SystemTime::now());
        // Both triggers, in pairs: the watched file (atomic rename) and `caravan core swap`.
        if swap % 4 < 2 {
            replace_atomically(&watched.core_file, bytes);
        } else {
            let out = caravan(
                &["core", "swap", copy.to_str().unwrap()],
                Some(&format!("http://{}", agent.addr)),
            );
            assert!(out.status.success(), "{out:?}");
        }
        // The state, not a time: the agent reports the new core and one more swap.
        let now = wait_for(&format!("swap {swap} to show"), || {
            let now = status(agent);
            (now["SHA256"] == want.as_str()).then_some(now)
        });
        let visible = Instant::now();
        seen_after.push(visible - started);
        swaps.push((started, visible, version));
        assert_eq!(now["Swaps"], swap as u64 + 3);
        assert_eq!(now["Version"], version);
        serving_after.push(
            loaded_at(&now)
                .duration_since(triggered)
                .unwrap_or_default(),
        );
        // Let new requests reach the new core before the next swap: each client has at
        // most one request sent before `visible` still in flight, so past these many more
        // answers, at least `AFTER_EACH_SWAP` per client were sent after it.
        let enough = completed.load(Ordering::SeqCst) + CLIENTS as u64 * (AFTER_EACH_SWAP + 1);
        wait_until(&format!("requests on the core of swap {swap}"), || {
            completed.load(Ordering::SeqCst) >= enough
        });
    }
    let elapsed = began.elapsed();
    let requests = completed.load(Ordering::SeqCst) - count_before;
    let ended = Instant::now();
    for (i, follower) in followers.iter_mut().enumerate() {
        let more = follower.read_for(PATIENCE);
        assert!(
            !more.is_empty() && !follower.ended,
            "follow stream {i} broke across the swaps"
        );
    }
    stop.store(true, Ordering::SeqCst);
    slow.store(false, Ordering::SeqCst);
    let (mut failures, mut served) = (Vec::new(), Vec::new());
    for client in load {
        let (f, s) = client.join().unwrap();
        failures.extend(f);
        served.extend(s);
    }
    // A request sent after a swap was visible and answered before the next swap began can
    // only have been served by the core that swap installed.
    let mut checked = 0;
    let mut checked_per_swap = [0u64; SWAPS];
    for (i, &(_, visible, version)) in swaps.iter().enumerate() {
        let next_began = swaps.get(i + 1).map_or(ended, |next| next.0);
        for (sent, answered, core) in &served {
            if *sent >= visible && *answered <= next_began {
                checked += 1;
                checked_per_swap[i] += 1;
                assert_eq!(
                    core, version,
                    "a request after swap {i} was served by the old core"
                );
            }
        }
    }
    let long: Vec<Result<usize, String>> = long.into_iter().map(|t| t.join().unwrap()).collect();

    let rate = requests as f64 / elapsed.as_secs_f64();
    eprintln!(
        "first swap to B (compiling it) took {first_compile:.0?}; {requests} requests in \
         {elapsed:.2?} during {SWAPS} swaps ({rate:.0}/s), {checked} of them checked for the \
         core that served them; new core serving after {}; seen by the polling client after {}",
        millis(&serving_after),
        millis(&seen_after)
    );
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    for (i, result) in long.iter().enumerate() {
        let before_end = result
            .as_ref()
            .unwrap_or_else(|e| panic!("long request {i} broke: {e}"));
        assert!(
            *before_end < BIG,
            "long request {i} was complete before the swaps ended, so it proves nothing"
        );
    }
    // Every swap had new requests on its core (the test waited for them), all checked.
    for (swap, count) in checked_per_swap.iter().enumerate() {
        assert!(
            *count >= CLIENTS as u64 * AFTER_EACH_SWAP,
            "only {count} requests checked after swap {swap}"
        );
    }
    // And both cores really served under the load.
    for version in versions {
        assert!(
            served.iter().any(|(_, _, core)| core == version),
            "no request served by {version}"
        );
    }
    assert!(status(agent)["LastRejected"].is_null());
}

fn millis(durations: &[Duration]) -> String {
    let list: Vec<String> = durations
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect();
    format!("[{}] ms", list.join(", "))
}

/// Offer `candidate` to a fresh agent and check that it is turned away for `reason` while
/// the old core keeps answering as itself.
fn assert_rejected(candidate: &[u8], reason: &str) {
    let agent = Agent::start();
    let before = status(&agent);
    let reply = put_core(&agent, candidate);
    let text = reply.text();
    assert_eq!(reply.status, 400, "{text}");
    assert!(
        text.starts_with(&format!("core rejected: {reason}")),
        "{text}"
    );

    let after = status(&agent);
    assert_eq!(after["SHA256"], before["SHA256"]);
    assert_eq!(after["Swaps"], 0);
    let rejected = &after["LastRejected"];
    assert_eq!(rejected["SHA256"], sha256(candidate));
    assert!(
        rejected["Reason"].as_str().unwrap().starts_with(reason),
        "{rejected}"
    );
    assert!(rejected["At"].as_str().unwrap().ends_with('Z'));

    let ls = agent.get("/v1/client/fs/ls/");
    assert_eq!(
        (ls.status, ls.text().as_str()),
        (400, "must provide a valid alloc id")
    );
    assert!(
        ls.header("x-caravan-core")
            .unwrap()
            .starts_with("caravan-core/")
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
    wait_log(&agent, "rejected (admin call from 127.0.0.1:");
}

#[test]
fn a_candidate_that_is_not_wasm_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(
        b"#!/bin/sh\necho not a core\n",
        "not WebAssembly (no \\0asm header)",
    );
}

#[test]
fn a_candidate_with_the_wrong_world_is_rejected_and_the_old_core_keeps_serving() {
    // A component that exports nothing.
    assert_rejected(
        b"\0asm\x0d\0\x01\0",
        "does not export caravan:client/handler",
    );
    // A plain core module, never componentized.
    assert_rejected(b"\0asm\x01\0\0\0", "a core wasm module, not a component");
}

#[test]
fn a_candidate_that_traps_at_start_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(START_TRAP_TEST_CORE, "failed to start: ");
}

#[test]
fn a_candidate_failing_the_self_check_is_rejected_and_the_old_core_keeps_serving() {
    assert_rejected(
        FAULTY_TEST_CORE,
        "failed the self-check: GET /v1/caravan/self-check/unknown-route: \
         expected 404 with an empty body, got 200 \"ok\"",
    );
}

#[test]
fn the_core_route_reports_the_active_core_in_nomad_style() {
    let agent = Agent::start();
    let reply = agent.get("/v1/agent/core");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["LastRejected", "LoadedAt", "SHA256", "Swaps", "Version"]
    );
    assert_eq!(body["SHA256"], sha256(DEFAULT_CORE));
    assert_eq!(body["Version"], reply.header("x-caravan-core").unwrap());
    assert_eq!(body["Swaps"], 0);
    assert!(body["LastRejected"].is_null());
    let loaded_at = body["LoadedAt"].as_str().unwrap();
    assert!(
        loaded_at.len() > 20 && loaded_at.as_bytes()[10] == b'T' && loaded_at.ends_with('Z'),
        "{loaded_at}"
    );
    let delete = agent.request("DELETE", "/v1/agent/core", &[], b"");
    assert_eq!(
        (delete.status, delete.text().as_str()),
        (405, "Invalid method")
    );
}

#[test]
fn the_core_file_swaps_on_rename_and_in_place_write_and_sighup_reloads_it() {
    let (a, b) = (DEFAULT_CORE, variant(DEFAULT_CORE, "b"));
    let watched = start_watched(a, &[]);
    let agent = &watched.agent;

    replace_atomically(&watched.core_file, &b);
    wait_until("core b to serve", || serving(agent) == sha256(&b));
    wait_log(agent, "core swapped (the core file changed)");

    // In place, in two writes with a pause between them, as a slow copy does.
    {
        let mut file = File::create(&watched.core_file).unwrap();
        file.write_all(&a[..a.len() / 2]).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        file.write_all(&a[a.len() / 2..]).unwrap();
    }
    wait_until("core a to serve", || serving(agent) == sha256(a));

    // After an admin swap, SIGHUP returns to what the file holds.
    assert_eq!(put_core(agent, &b).status, 200);
    assert_eq!(serving(agent), sha256(&b));
    agent.signal(rustix::process::Signal::HUP);
    wait_until("core a to serve", || serving(agent) == sha256(a));
    wait_log(agent, "core swapped (SIGHUP)");

    // A broken file is rejected; the core it was meant to replace keeps serving.
    replace_atomically(&watched.core_file, b"oops");
    wait_until("a rejection", || !status(agent)["LastRejected"].is_null());
    let now = status(agent);
    assert_eq!(now["SHA256"], sha256(a));
    assert_eq!(
        now["LastRejected"]["Reason"],
        "not WebAssembly (no \\0asm header)"
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);

    // So does a file that disappears. The watcher takes no action on a removal (and says
    // nothing); a reload asked for then finds no file and says it keeps serving, which the
    // test waits for rather than waiting a while to see that nothing changed.
    let logged = agent.log().len();
    std::fs::remove_file(&watched.core_file).unwrap();
    agent.signal(rustix::process::Signal::HUP);
    wait_until("the agent to keep serving without the file", || {
        agent.log()[logged..].lines().any(|line| {
            line.contains("core reload (SIGHUP): failed to open core ")
                && line.contains("; still serving ")
        })
    });
    assert_eq!(serving(agent), sha256(a));
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}

#[test]
fn sighup_without_a_core_file_returns_to_the_built_in_core() {
    let agent = Agent::start();
    let built_in = serving(&agent);
    let other = variant(DEFAULT_CORE, "other");
    assert_eq!(put_core(&agent, &other).status, 200);
    assert_eq!(serving(&agent), sha256(&other));
    agent.signal(rustix::process::Signal::HUP);
    wait_until("the built-in core to serve", || serving(&agent) == built_in);
    assert_eq!(status(&agent)["Swaps"], 2);

    // With the built-in core already serving, SIGHUP re-checks it and changes nothing.
    agent.signal(rustix::process::Signal::HUP);
    wait_log(&agent, "re-checked (SIGHUP): unchanged");
    assert_eq!(status(&agent)["Swaps"], 2);
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}

#[test]
fn core_check_prints_the_verdict_and_exits_non_zero_on_rejection() {
    let temp = tempfile::tempdir().unwrap();
    let (good, bad) = (temp.path().join("good.wasm"), temp.path().join("bad.wasm"));
    std::fs::write(&good, DEFAULT_CORE).unwrap();
    std::fs::write(&bad, FAULTY_TEST_CORE).unwrap();

    let out = caravan(&["core", "check", good.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains(": ok: core caravan-core/"), "{stdout}");
    assert!(stdout.contains(&sha256(DEFAULT_CORE)), "{stdout}");

    let out = caravan(&["core", "check", bad.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout.contains(": rejected (sha256 ") && stdout.contains("failed the self-check"),
        "{stdout}"
    );
}

#[test]
fn core_swap_reports_a_rejection_and_fails() {
    let agent = Agent::start();
    let temp = tempfile::tempdir().unwrap();
    let bad = temp.path().join("bad.wasm");
    std::fs::write(&bad, START_TRAP_TEST_CORE).unwrap();
    let out = caravan(
        &["core", "swap", bad.to_str().unwrap()],
        Some(&format!("http://{}", agent.addr)),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains("refused the core (400 Bad Request): core rejected: failed to start"),
        "{stderr}"
    );
    assert_eq!(serving(&agent), sha256(DEFAULT_CORE));
}

fn cache_entries(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("core-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn a_restart_loads_the_core_from_the_compiled_cache_and_refuses_a_forged_entry() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");

    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    assert!(agent.log().contains("compiled in"), "{}", agent.log());
    assert!(agent.terminate().success());
    let entries = cache_entries(&data);
    assert_eq!(entries.len(), 1);
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with(&format!("{}-", sha256(DEFAULT_CORE))),
        "{name}"
    );

    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    assert!(
        agent.log().contains("from the compiled cache"),
        "{}",
        agent.log()
    );
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
    assert!(agent.terminate().success());

    // One flipped bit: the entry is no longer what the agent wrote, so it is not loaded.
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&entries[0], bytes).unwrap();
    let agent = Agent::start_in(&data, &[]);
    wait_log(&agent, "loaded (sha256");
    let log = agent.log();
    assert!(
        log.contains("was not written by this agent or is damaged"),
        "{log}"
    );
    assert!(log.contains("compiled in"), "{log}");
    assert_eq!(agent.get("/v1/client/metadata").status, 200);
}

#[test]
fn a_faulty_core_fails_only_its_own_requests() {
    let temp = tempfile::tempdir().unwrap();
    let core = temp.path().join("faulty.wasm");
    std::fs::write(&core, FAULTY_TEST_CORE).unwrap();
    let agent = Agent::start_in(
        &temp.path().join("data"),
        &[
            &format!("-core={}", core.display()),
            // Short enough that `/loop` ends soon, long enough that `/ok` never meets it on a
            // loaded machine (a 300 ms deadline once failed `/ok` under stress-ng: the
            // deadline is wall time, and a starved thread can sit out 300 ms).
            "-core-call-timeout=3s",
        ],
    );
    wait_log(&agent, "serving it anyway because it was named at start-up");
    let agent = Arc::new(agent);
    for path in ["/panic", "/loop", "/grow"] {
        let faulty = {
            let agent = agent.clone();
            std::thread::spawn(move || agent.get(path))
        };
        // Other requests are served meanwhile, whatever the faulty one is doing.
        let during = agent.get("/ok");
        assert_eq!((during.status, during.text().as_str()), (200, "ok"));
        // The faulty request is answered (`get` would give up on a hang), with a 500; that
        // `/loop` was stopped by the call deadline is what the log says below.
        let reply = faulty.join().unwrap();
        assert_eq!(reply.status, 500, "{path}");
        assert_eq!(
            reply.text(),
            "internal error: the core failed on this request"
        );
        let next = agent.get("/ok");
        assert_eq!((next.status, next.text().as_str()), (200, "ok"));
    }
    wait_log(&agent, "GET /grow from");
    let log = agent.log();
    assert!(log.contains("deliberate panic for /panic"), "{log}");
    assert!(
        log.contains("GET /loop from") && log.contains("stopped at the call deadline (3s)"),
        "{log}"
    );
}
