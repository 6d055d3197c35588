//! Hot swap under load: ten swaps while keep-alive clients and long requests run fail no
//! request, and new requests get the new core.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use caravan::runtime::DEFAULT_CORE;

use crate::support::{PATIENCE, wait_for, wait_until};

use super::{
    caravan, loaded_at, put_core, renamed, replace_atomically, sha256, start_watched, status,
};

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
