//! `fs/stream` over real HTTP: frames every known client parser accepts, follow latency,
//! file events, heartbeats, gzip, and resources released when clients vanish.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::support::{Agent, wait_until};

const FILE: &str = "alloc/data/followed.log";

fn stream_target(agent: &Agent, query: &str) -> String {
    format!(
        "/v1/client/fs/stream/{}?path={FILE}{query}",
        agent.demo_alloc
    )
}

fn append(agent: &Agent, data: &[u8]) {
    let path = agent.alloc_dir().join(FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// Go's `json.Decoder`: values one after another, any whitespace between.
fn parse_like_go_decoder(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

/// nomadpy's `raw_decode` loop, fed one byte at a time as if each arrived in its own read.
fn parse_like_raw_decode_loop(body: &[u8]) -> Vec<Value> {
    let mut buffer = String::new();
    let mut frames = Vec::new();
    for byte in body {
        buffer.push(char::from(*byte));
        loop {
            let trimmed = buffer.trim_start().to_string();
            let mut values = serde_json::Deserializer::from_str(&trimmed).into_iter::<Value>();
            match values.next() {
                Some(Ok(value)) => {
                    let used = values.byte_offset();
                    frames.push(value);
                    buffer = trimmed[used..].to_string();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => panic!("raw_decode failed: {e}"),
                None => break,
            }
        }
    }
    assert!(buffer.trim().is_empty(), "left over: {buffer}");
    frames
}

/// nomad-tools: cut a frame at every `}` and parse each piece.
fn parse_like_nomad_tools(body: &[u8]) -> Vec<Value> {
    let mut piece = String::new();
    let mut frames = Vec::new();
    for byte in body {
        piece.push(char::from(*byte));
        if *byte == b'}' {
            frames.push(serde_json::from_str(&piece).unwrap_or_else(|e| panic!("{e}: {piece}")));
            piece.clear();
        }
    }
    assert!(piece.is_empty());
    frames
}

/// The Nomad web UI: buffer, split with `/(.*\})(.*)$/`, replace `}{` by `}\n{`, parse lines.
fn parse_like_nomad_ui(chunks: &[Vec<u8>]) -> Vec<Value> {
    let mut buffer = String::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buffer.push_str(std::str::from_utf8(chunk).unwrap());
        assert!(
            !buffer.contains('\n'),
            "the UI's regex cannot match across newlines"
        );
        if let Some(last) = buffer.rfind('}') {
            let head = buffer[..=last].to_string();
            buffer = buffer[last + 1..].to_string();
            for line in head.replace("}{", "}\n{").split('\n') {
                frames.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
            }
        }
    }
    frames
}

fn data_of(frames: &[Value]) -> Vec<u8> {
    frames
        .iter()
        .filter_map(|f| f.get("Data").and_then(Value::as_str))
        .flat_map(|d| base64::engine::general_purpose::STANDARD.decode(d).unwrap())
        .collect()
}

#[test]
fn frames_of_a_real_follow_stream_parse_with_every_client_parser() {
    let agent = Agent::start();
    append(&agent, b"first line\n");
    let mut reader = agent.open_stream(&stream_target(&agent, ""), &[]);
    assert_eq!(reader.status, 200);
    let mut chunks = Vec::new();
    let started = Instant::now();
    let mut expected = b"first line\n".to_vec();
    for i in 0..3 {
        chunks.push(reader.read_for(Duration::from_millis(400)));
        let line = format!("appended {i} with a }} brace and \"quotes\"\n");
        append(&agent, line.as_bytes());
        expected.extend_from_slice(line.as_bytes());
    }
    while started.elapsed() < Duration::from_millis(2_300) {
        chunks.push(reader.read_for(Duration::from_millis(100)));
    }
    let body: Vec<u8> = chunks.concat();
    let go = parse_like_go_decoder(&body);
    assert!(
        go.iter().any(|f| f == &serde_json::json!({})),
        "heartbeats are sent while following"
    );
    assert_eq!(data_of(&go), expected);
    assert_eq!(parse_like_raw_decode_loop(&body), go);
    assert_eq!(parse_like_nomad_tools(&body), go);
    assert_eq!(parse_like_nomad_ui(&chunks), go);
    let last = go.iter().rev().find(|f| f.get("Data").is_some()).unwrap();
    assert_eq!(
        last["Offset"],
        expected.len(),
        "Offset is the position right after the data"
    );
    assert_eq!(last["File"], FILE);
}

#[test]
fn truncation_and_deletion_produce_file_events() {
    let agent = Agent::start();
    append(&agent, b"0123456789");
    let mut reader = agent.open_stream(&stream_target(&agent, "&origin=end"), &[]);
    std::thread::sleep(Duration::from_millis(100));
    let path = agent.alloc_dir().join(FILE);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&agent, b"new");
    let mut frames = Vec::new();
    wait_until(|| {
        frames.extend(parse_like_go_decoder(
            &reader.read_for(Duration::from_millis(100)),
        ));
        frames.iter().any(|f| f.get("Data").is_some())
    });
    let truncated = frames
        .iter()
        .find(|f| f.get("FileEvent").is_some())
        .unwrap();
    assert_eq!(truncated["FileEvent"], "file truncated");
    assert_eq!(data_of(&frames), b"new");
    std::fs::remove_file(&path).unwrap();
    let rest = parse_like_go_decoder(&reader.read_to_end(Duration::from_secs(5)));
    assert!(reader.ended, "the stream ends after a deletion");
    let deleted = rest.iter().find(|f| f.get("FileEvent").is_some()).unwrap();
    assert_eq!(
        deleted,
        &serde_json::json!({"File": FILE, "FileEvent": "file deleted", "Offset": 3})
    );
}

#[test]
fn an_idle_stream_sends_a_heartbeat_every_second() {
    let agent = Agent::start();
    append(&agent, b"x");
    let mut reader = agent.open_stream(&stream_target(&agent, "&origin=end"), &[]);
    let opened = Instant::now();
    let mut arrivals = Vec::new();
    while arrivals.len() < 4 {
        let chunk = reader.read_for(Duration::from_secs(3));
        assert_eq!(chunk, b"{}", "an idle stream sends only heartbeats");
        arrivals.push(opened.elapsed());
    }
    let mut previous = Duration::ZERO;
    for arrival in arrivals {
        let gap = arrival - previous;
        assert!(
            gap > Duration::from_millis(800) && gap < Duration::from_millis(1_200),
            "heartbeat gap {gap:?}"
        );
        previous = arrival;
    }
}

#[test]
fn non_follow_streams_end_and_large_files_stream_whole() {
    let agent = Agent::start();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    append(&agent, &data);
    let mut reader = agent.open_stream(&stream_target(&agent, "&follow=false"), &[]);
    let body = reader.read_to_end(Duration::from_secs(30));
    assert!(reader.ended);
    let frames = parse_like_go_decoder(&body);
    assert!(
        frames.iter().all(|f| f
            .get("Data")
            .is_none_or(|d| d.as_str().unwrap().len() <= 87_384)),
        "at most 64 KiB per frame"
    );
    assert!(data_of(&frames) == data);
    let mut offset = 0;
    for frame in frames.iter().filter(|f| f.get("Data").is_some()) {
        offset += base64::engine::general_purpose::STANDARD
            .decode(frame["Data"].as_str().unwrap())
            .unwrap()
            .len();
        assert_eq!(frame["Offset"], offset);
    }
}

#[test]
fn gzip_is_flushed_per_frame_while_following() {
    let agent = Agent::start();
    append(&agent, b"hello gzip\n");
    let mut reader = agent.open_stream(&stream_target(&agent, ""), &[("Accept-Encoding", "gzip")]);
    assert_eq!(reader.header("content-encoding"), Some("gzip"));
    let compressed = reader.read_for(Duration::from_secs(2));
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    decoder.write_all(&compressed).unwrap();
    decoder.flush().unwrap();
    let text = String::from_utf8(decoder.get_ref().clone()).unwrap();
    assert!(text.starts_with(r#"{"Data":"aGVsbG8gZ3ppcAo=""#), "{text}");

    let plain = agent.request(
        "GET",
        "/v1/client/metadata",
        &[("Accept-Encoding", "gzip")],
        b"",
    );
    assert_eq!(plain.header("content-encoding"), Some("gzip"));
    let mut decoded = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&plain.body[..]),
        &mut decoded,
    )
    .unwrap();
    assert!(decoded.starts_with(r#"{"Dynamic":"#));
    let gc = agent.request("GET", "/v1/client/gc", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(
        (gc.header("content-length"), gc.header("content-encoding")),
        (Some("0"), None)
    );
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn vanished_clients_release_their_streams() {
    let agent = Agent::start();
    append(&agent, b"x");
    // Let the agent settle (the first requests open long-lived descriptors).
    agent.get("/v1/client/stats");
    let baseline = open_fds(agent.pid());
    let mut readers: Vec<_> = (0..200)
        .map(|_| agent.open_stream(&stream_target(&agent, ""), &[]))
        .collect();
    for reader in &mut readers {
        assert!(!reader.read_for(Duration::from_secs(5)).is_empty());
    }
    assert!(open_fds(agent.pid()) >= baseline + 200);
    drop(readers);
    let started = Instant::now();
    wait_until(|| open_fds(agent.pid()) <= baseline);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fds returned after {:?}",
        started.elapsed()
    );
}

#[test]
fn streams_past_the_limit_are_refused_clearly() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &["-max-streams=2"]);
    append(&agent, b"x");
    let _a = agent.open_stream(&stream_target(&agent, ""), &[]);
    let _b = agent.open_stream(&stream_target(&agent, ""), &[]);
    let refused = agent.get(&stream_target(&agent, ""));
    assert_eq!(
        (refused.status, refused.text()),
        (503, "too many concurrent streams (limit 2)".to_string())
    );
}

#[test]
fn following_logs_across_rotation_loses_no_byte() {
    use sha2::{Digest, Sha256};
    let agent = Agent::start();
    let id = uuid::Uuid::new_v4().to_string();
    let lines = 30_000;
    let script = format!(
        "sleep 1; i=0; while [ $i -lt {lines} ]; do echo \"line $i of a task that rotates its logs ........................................\"; i=$((i+1)); done; sleep 3600"
    );
    let spec = serde_json::json!({"ID": id, "JobID": "rotate", "TaskGroup": "rotate", "Tasks": [{
        "Name": "noisy", "Command": "/bin/sh", "Args": ["-c", script],
        "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 1}
    }]});
    std::fs::write(
        agent.data_dir.join("specs").join(format!("{id}.json")),
        spec.to_string(),
    )
    .unwrap();
    let target = format!("/v1/client/fs/logs/{id}?task=noisy&type=stdout&follow=true");
    wait_until(|| {
        agent
            .get(&format!("/v1/client/fs/ls/{id}?path=alloc/logs"))
            .text()
            .contains("noisy.stdout.0")
    });
    let mut reader = agent.open_stream(&target, &[]);
    assert_eq!(reader.status, 200);
    let expected_len: usize = (0..lines)
        .map(|i| format!("line {i} of a task that rotates its logs ........................................\n").len())
        .sum();
    let mut body = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        body.extend(reader.read_for(Duration::from_millis(200)));
        let frames = parse_like_go_decoder(
            &body[..body.iter().rposition(|b| *b == b'}').map_or(0, |p| p + 1)],
        );
        if data_of(&frames).len() >= expected_len || Instant::now() > deadline {
            break;
        }
    }
    let frames =
        parse_like_go_decoder(&body[..body.iter().rposition(|b| *b == b'}').map_or(0, |p| p + 1)]);
    let received = data_of(&frames);
    let dir = agent
        .alloc_dir()
        .parent()
        .unwrap()
        .join(&id)
        .join("alloc/logs");
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index = name.strip_prefix("noisy.stdout.")?.parse().ok()?;
            Some((index, std::fs::read(e.path()).ok()?))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "the task's logs rotated ({} files)",
        files.len()
    );
    let on_disk: Vec<u8> = files.into_iter().flat_map(|(_, data)| data).collect();
    assert_eq!(on_disk.len(), expected_len);
    assert_eq!(
        Sha256::digest(&received),
        Sha256::digest(&on_disk),
        "received {} of {} bytes",
        received.len(),
        on_disk.len()
    );
    let names: BTreeSet<&str> = frames.iter().filter_map(|f| f["File"].as_str()).collect();
    assert!(names.len() >= 3, "frames name each rotated file: {names:?}");
}
