//! Faults (issue 13): a full disk, a damaged state database, and SIGKILL while logs rotate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Agent, task_state, wait_for, wait_task_running, wait_until};

/// Start an agent on `data_dir` that is expected to refuse to start; its exit status and
/// everything it printed.
fn start_refused(data_dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
        .arg(format!("-data-dir={}", data_dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let status = wait_for("the agent to exit", || child.try_wait().unwrap());
    let text = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    (status, text)
}

#[test]
fn a_damaged_state_database_stops_the_agent_with_a_way_out() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let reply = agent.request("POST", "/v1/client/metadata", &[], br#"{"Meta":{"k":"v"}}"#);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(agent.terminate().success());
    let file = temp.path().join("client/state.redb");
    let good = std::fs::read(&file).unwrap();

    let mut garbage = good.clone();
    garbage[..4096].fill(0x5a);
    let mut body = good.clone();
    body[4096..].fill(0xc3);
    for (what, bytes) in [
        ("a damaged header", garbage),
        ("a damaged body", body),
        ("a truncated file", good[..good.len() / 2].to_vec()),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        let (status, text) = start_refused(temp.path());
        assert!(!status.success(), "{what}: the agent started: {text}");
        assert!(!text.contains("panicked"), "{what}: a panic: {text}");
        assert!(
            text.contains(&file.display().to_string()),
            "{what}: the message names the file: {text}"
        );
        assert!(
            text.contains("is damaged") && text.contains("move it aside"),
            "{what}: the message says what to do: {text}"
        );
    }

    // The documented way out: move it aside, and the agent starts with empty state.
    std::fs::rename(&file, temp.path().join("client/state.redb.damaged")).unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let meta = agent.get("/v1/client/metadata");
    assert_eq!(meta.status, 200);
    assert!(meta.json()["Dynamic"].get("k").is_none());
}

/// A tmpfs of our own, unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` at `dir`; `None` (with the reason) where mounting is not
    /// permitted.
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem of `dir` with `<dir>/filler` until a write fails for lack of space.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    // Bounded: 1 GiB in 64 KiB writes, then single bytes, far more than any test tmpfs.
    let mut written = 0u64;
    for size in [65536usize, 1] {
        let chunk = vec![b'f'; size];
        while written < 1 << 30 {
            match file.write(&chunk) {
                Ok(n) if n > 0 => written += n as u64,
                Ok(_) => break,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling: {e}");
                    break;
                }
            }
        }
    }
    let _ = file.sync_all();
    path
}

/// The number of the last whole `line <n>` line in the newest log file of `task`.
fn last_logged_line(logs: &Path, task: &str) -> Option<u64> {
    let newest = std::fs::read_dir(logs)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index: u64 = name
                .strip_prefix(&format!("{task}.stdout."))?
                .parse()
                .ok()?;
            Some((index, e.path()))
        })
        .max()?;
    let text = std::fs::read_to_string(newest.1).ok()?;
    let whole = &text[..text.rfind('\n')? + 1];
    whole
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("line ")?.parse().ok())
}

#[test]
fn a_full_disk_fails_writes_clearly_and_recovers_without_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let mnt = temp.path().join("mnt");
    let _mount = match Tmpfs::mount(&mnt, "48m") {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!(
                "SKIPPED faults::a_full_disk_fails_writes_clearly_and_recovers_without_a_restart: \
                 cannot mount a tmpfs ({why}); run as root"
            );
            return;
        }
    };
    let data = mnt.join("data");
    let agent = Agent::start_in(&data, &[]);
    let id = uuid::Uuid::new_v4().to_string();
    let spec = serde_json::json!({"ID": id, "JobID": "full", "TaskGroup": "full", "Tasks": [{
        "Name": "writer", "Command": "/bin/sh",
        "Args": ["-c", "i=0; while :; do echo \"line $i\"; i=$((i+1)); sleep 0.002; done"],
        "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1}}]});
    std::fs::write(
        data.join("specs").join(format!("{id}.json")),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    wait_task_running(&agent, &id, "writer");
    let logs = data.join("alloc").join(&id).join("alloc/logs");
    wait_until("the writer to log", || {
        last_logged_line(&logs, "writer").is_some()
    });
    let meta = |body: &str| agent.request("POST", "/v1/client/metadata", &[], body.as_bytes());
    assert_eq!(meta(r#"{"Meta":{"before":"1"}}"#).status, 200);

    let filler = fill(&mnt);
    let logged = agent.log().len();

    // Metadata: keep writing 4 KiB values until one fails (bounded); every acknowledged
    // write must be served, the failed one must leave nothing behind.
    let value = "v".repeat(4096);
    let mut acknowledged = Vec::new();
    let mut failure = None;
    for i in 0..256 {
        let key = format!("full_{i}");
        let reply = meta(&format!(r#"{{"Meta":{{"{key}":"{value}"}}}}"#));
        if reply.status == 200 {
            acknowledged.push(key);
        } else {
            failure = Some((key, reply));
            break;
        }
    }
    let (failed_key, reply) = failure.expect("a metadata write failed on a full disk");
    let text = reply.text();
    assert!(reply.status >= 500, "a host fault: {} {text}", reply.status);
    assert!(
        text.to_lowercase().contains("space"),
        "the error says what happened: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let served = agent.get("/v1/client/metadata").json();
    assert_eq!(served["Dynamic"]["before"], "1", "{served}");
    for key in &acknowledged {
        assert_eq!(
            served["Dynamic"][key],
            value.as_str(),
            "{key} was acknowledged"
        );
    }
    assert!(served["Dynamic"].get(&failed_key).is_none(), "{served}");

    // Logs: the task keeps running and the collector says, once, that it drops output.
    crate::support::wait_log_after(&agent, logged, "failed to write the log of");
    assert_eq!(
        task_state(&agent, &id, "writer").unwrap()["State"],
        "running"
    );

    // Space returns: everything works again without a restart.
    std::fs::remove_file(&filler).unwrap();
    let before_free = last_logged_line(&logs, "writer").unwrap_or(0);
    wait_until("a metadata write to succeed again", || {
        meta(r#"{"Meta":{"after":"1"}}"#).status == 200
    });
    wait_until("the writer's log to grow again", || {
        last_logged_line(&logs, "writer").is_some_and(|n| n > before_free + 10)
    });
    assert_eq!(
        task_state(&agent, &id, "writer").unwrap()["State"],
        "running"
    );
    assert!(!agent.log().contains("panicked"), "{}", agent.log());

    // And the state database opens after a restart with everything acknowledged.
    assert!(agent.terminate().success());
    let agent = Agent::start_in(&data, &[]);
    let served = agent.get("/v1/client/metadata").json();
    assert_eq!(served["Dynamic"]["before"], "1");
    assert_eq!(served["Dynamic"]["after"], "1");
    for key in &acknowledged {
        assert_eq!(
            served["Dynamic"][key],
            value.as_str(),
            "{key} after a restart"
        );
    }
    drop(agent);
}

/// The log files `<task>.stdout.<N>` in `logs`, by index, with their content.
fn log_files(logs: &Path, task: &str) -> Vec<(u64, Vec<u8>)> {
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(logs)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index = name
                .strip_prefix(&format!("{task}.stdout."))?
                .parse()
                .ok()?;
            Some((index, std::fs::read(e.path()).ok()?))
        })
        .collect();
    files.sort_by_key(|(i, _)| *i);
    files
}

/// Lines `<run> 0`, `<run> 1`, … : how many whole lines `data` holds of that sequence, and
/// what follows the last whole line (a line the kill cut short). Panics on any line out of
/// sequence: one lost, duplicated, or from another run.
fn count_sequence(data: &[u8], run: u32) -> (u64, Vec<u8>) {
    let mut next = 0u64;
    let mut rest = data;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(&rest[..end]);
        assert_eq!(line, format!("{run} {next}"), "line {next} of run {run}");
        next += 1;
        rest = &rest[end + 1..];
    }
    (next, rest.to_vec())
}

/// SIGKILL of the agent while a fast writer's logs rotate, then a restart on the same data
/// dir. The writer and its executor (which writes the logs) do not notice: the files hold
/// `1 0` … `1 N-1` exactly once, in order, across the rotations, and `fs/logs` (all files
/// from the start) serves exactly the files' concatenation.
#[test]
fn sigkill_during_log_rotation_loses_and_duplicates_nothing() {
    const LINES: u64 = 600_000;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().to_path_buf();
    let agent = Agent::start_in(&data, &[]);
    let id = uuid::Uuid::new_v4().to_string();
    let script = format!(
        "r=$(cat run 2>/dev/null || echo 0); r=$((r+1)); echo $r > run; i=0; \
         while [ $i -lt {LINES} ]; do echo \"$r $i\"; i=$((i+1)); done; exec sleep 3600"
    );
    let spec = serde_json::json!({"ID": id, "JobID": "rot", "TaskGroup": "rot", "Tasks": [{
        "Name": "writer", "Command": "/bin/sh", "Args": ["-c", script],
        "LogConfig": {"MaxFiles": 100, "MaxFileSizeMB": 1}}]});
    std::fs::write(
        data.join("specs").join(format!("{id}.json")),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let logs = data.join("alloc").join(&id).join("alloc/logs");
    // Kill right after the second rotation, while the writer is at full speed.
    wait_until("the writer's logs to rotate twice", || {
        logs.join("writer.stdout.2").exists()
    });
    let mut agent = agent;
    agent.signal(rustix::process::Signal::KILL);
    agent.wait_exit();
    let before = log_files(&logs, "writer");
    drop(agent);

    let agent = Agent::start_in(&data, &[]);
    wait_task_running(&agent, &id, "writer");
    let last = format!("1 {}\n", LINES - 1);
    wait_until("run 1 to finish writing", || {
        log_files(&logs, "writer")
            .last()
            .is_some_and(|(_, d)| d.ends_with(last.as_bytes()))
    });
    let after = log_files(&logs, "writer");
    assert!(after.len() >= before.len());
    for ((i, was), (j, is)) in before.iter().zip(&after) {
        assert_eq!(i, j);
        assert!(is.starts_with(was), "file {i} was only ever appended to");
    }
    let all: Vec<u8> = after.iter().flat_map(|(_, d)| d.clone()).collect();
    let (n, rest) = count_sequence(&all, 1);
    assert_eq!(
        (n, rest.len()),
        (LINES, 0),
        "one run, complete, exactly once"
    );

    let served = agent.get(&format!(
        "/v1/client/fs/logs/{id}?task=writer&type=stdout&origin=start&offset=0&plain=true\
         &follow=false"
    ));
    assert_eq!(served.status, 200);
    let on_disk: Vec<u8> = after.iter().flat_map(|(_, d)| d.clone()).collect();
    assert!(
        served.body == on_disk,
        "fs/logs serves every file in order: {} bytes served, {} on disk",
        served.body.len(),
        on_disk.len()
    );
}
