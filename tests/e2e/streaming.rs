//! `fs/stream` over real HTTP: frames every known client parser accepts, follow latency,
//! file events, heartbeats, gzip, and resources released when clients vanish.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::support::{Agent, wait_task_running, wait_until, write_spec};

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

/// The complete frames at the start of `body` (a frame still arriving is left out).
fn complete_frames(body: &[u8]) -> Vec<Value> {
    let mut frames = Vec::new();
    for value in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        match value {
            Ok(value) => frames.push(value),
            Err(e) if e.is_eof() => break,
            Err(e) => panic!("bad frame: {e}"),
        }
    }
    frames
}

fn is_heartbeat(frame: &Value) -> bool {
    frame == &serde_json::json!({})
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
    // The chunks as they arrive, appending between reads so that they come apart.
    let mut chunks = Vec::new();
    let mut expected = b"first line\n".to_vec();
    for i in 0..3 {
        chunks.push(reader.read_for(Duration::from_millis(400)));
        let line = format!("appended {i} with a }} brace and \"quotes\"\n");
        append(&agent, line.as_bytes());
        expected.extend_from_slice(line.as_bytes());
    }
    // Then until everything appended and a heartbeat have come, however long that takes.
    wait_until("every appended line and a heartbeat", || {
        chunks.push(reader.read_for(Duration::from_millis(100)));
        let frames = complete_frames(&chunks.concat());
        data_of(&frames) == expected && frames.iter().any(is_heartbeat)
    });
    // And the frame under way, if any, to its end.
    while chunks.concat().last() != Some(&b'}') {
        chunks.push(reader.read_some());
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
    // A heartbeat shows the stream is following from the end, before the file changes.
    let first = reader.read_until("a heartbeat", |body| {
        complete_frames(body).iter().any(is_heartbeat)
    });
    assert!(data_of(&complete_frames(&first)).is_empty(), "from the end");
    let path = agent.alloc_dir().join(FILE);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&agent, b"new");
    let body = reader.read_until("the new data", |body| {
        data_of(&complete_frames(body)) == b"new"
    });
    let frames = complete_frames(&body);
    let truncated = frames
        .iter()
        .find(|f| f.get("FileEvent").is_some())
        .unwrap();
    assert_eq!(truncated["FileEvent"], "file truncated");
    assert_eq!(data_of(&frames), b"new");
    std::fs::remove_file(&path).unwrap();
    // The stream ends after a deletion.
    let rest = parse_like_go_decoder(&reader.read_to_end_patiently());
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
    // Taken before the request is sent, so before the agent's heartbeat clock starts.
    let asked = Instant::now();
    let mut reader = agent.open_stream(&stream_target(&agent, "&origin=end"), &[]);
    // Only heartbeats, however they are cut into reads (a slow reader gets several at once).
    let body = reader.read_until("four heartbeats", |body| complete_frames(body).len() >= 4);
    let frames = parse_like_go_decoder(&body);
    assert!(
        frames.iter().all(is_heartbeat),
        "an idle stream sends only heartbeats: {frames:?}"
    );
    // Once a second, not more often. Only a lower bound, which no delay can break: a
    // loaded machine may deliver heartbeats late, never before they were sent.
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "four heartbeats within {took:?}"
    );
}

#[test]
fn non_follow_streams_end_and_large_files_stream_whole() {
    let agent = Agent::start();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    append(&agent, &data);
    let mut reader = agent.open_stream(&stream_target(&agent, "&follow=false"), &[]);
    let body = reader.read_to_end_patiently();
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
    // Each frame is flushed: the first decodes from what has arrived, with no more to come
    // (the stream is idle after it but for heartbeats).
    let gunzip = |compressed: &[u8]| {
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        decoder.write_all(compressed).unwrap();
        decoder.flush().unwrap();
        String::from_utf8(decoder.get_ref().clone()).unwrap()
    };
    let compressed = reader.read_until("the first frame, decompressed", |body| {
        gunzip(body).contains('}')
    });
    let text = gunzip(&compressed);
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
    // 200 streams from one address: past Nomad's default of 100 connections per client.
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("limits.hcl");
    std::fs::write(&config, "limits {\n  http_max_conns_per_client = 0\n}\n").unwrap();
    let agent = Agent::start_in(
        &temp.path().join("data"),
        &[&format!("-config={}", config.display())],
    );
    append(&agent, b"x");
    // Let the agent settle (the first requests open long-lived descriptors).
    agent.get("/v1/client/stats");
    let baseline = open_fds(agent.pid());
    let mut readers: Vec<_> = (0..200)
        .map(|_| agent.open_stream(&stream_target(&agent, ""), &[]))
        .collect();
    for reader in &mut readers {
        reader.read_some();
    }
    // Counted against the same moment's own count, not an exact figure: the agent opens
    // and closes a few descriptors of its own at any time (stats, logs, specs).
    const SLACK: usize = 10;
    let with_streams = open_fds(agent.pid());
    assert!(
        with_streams + SLACK >= baseline + 200,
        "{with_streams} vs {baseline}"
    );
    drop(readers);
    wait_until("the streams' descriptors to be released", || {
        open_fds(agent.pid()) + 200 <= with_streams + SLACK
    });
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
    // The task writes once the test is following its log (the `go` file), so the stream
    // follows the rotations as they happen.
    let script = format!(
        "while [ ! -e $NOMAD_ALLOC_DIR/data/go ]; do sleep 0.05; done; i=0; while [ $i -lt {lines} ]; do echo \"line $i of a task that rotates its logs ........................................\"; i=$((i+1)); done; sleep 3600"
    );
    let spec = serde_json::json!({"ID": id, "JobID": "rotate", "TaskGroup": "rotate", "Tasks": [{
        "Name": "noisy", "Command": "/bin/sh", "Args": ["-c", script],
        "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 1}
    }]});
    write_spec(&agent, &spec);
    let alloc_dir = agent.alloc_dir().parent().unwrap().join(&id);
    let dir = alloc_dir.join("alloc/logs");
    // `fs/logs` answers 404 "task not started yet" until the agent reports the task started,
    // which can come after its log file exists: wait for both.
    wait_task_running(&agent, &id, "noisy");
    wait_until("the task's first log file", || {
        agent
            .get(&format!("/v1/client/fs/ls/{id}?path=alloc/logs"))
            .text()
            .contains("noisy.stdout.0")
    });
    let target = format!("/v1/client/fs/logs/{id}?task=noisy&type=stdout&follow=true");
    let mut reader = agent.open_stream(&target, &[]);
    let status = reader.status;
    assert_eq!(
        status,
        200,
        "{}",
        String::from_utf8_lossy(&reader.read_for(Duration::from_secs(1)))
    );
    std::fs::write(alloc_dir.join("alloc/data/go"), b"").unwrap();
    let expected_len: usize = (0..lines)
        .map(|i| format!("line {i} of a task that rotates its logs ........................................\n").len())
        .sum();
    let body = reader.read_until("every line the task wrote", |body| {
        data_of(&complete_frames(body)).len() >= expected_len
    });
    let frames = complete_frames(&body);
    let received = data_of(&frames);
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
