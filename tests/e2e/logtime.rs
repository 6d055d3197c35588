//! `fs/logs` by time (caravan's extensions): a task prints numbered lines to stdout and
//! stderr, its stdout rotates, the agent restarts and the task's second run prints more and
//! exits. Every expectation is computed from the times the index recorded (read back with
//! `timestamps=true`), never from the wall clock.

use crate::support::*;

const LINES: u32 = 15_000;
const TASK: &str = "numbered";

/// A timestamped line: its fixed-width RFC 3339 time and the rest.
fn split_time(line: &str) -> (&str, &str) {
    assert!(
        line.len() > 31 && line.as_bytes()[29] == b'Z' && line.as_bytes()[30] == b' ',
        "not a timestamped line: {line:?}"
    );
    (&line[..30], &line[31..])
}

fn logs(agent: &Agent, id: &str, query: &str) -> String {
    let reply = agent.get(&format!("/v1/client/fs/logs/{id}?task={TASK}&{query}"));
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    reply.text()
}

/// `(time, text)` of every line of one stream, from `timestamps=true`.
fn timed(agent: &Agent, id: &str, kind: &str) -> Vec<(String, String)> {
    let text = logs(
        agent,
        id,
        &format!("type={kind}&plain=true&timestamps=true"),
    );
    let timed: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (t, rest) = split_time(l);
            (t.to_string(), rest.to_string())
        })
        .collect();
    assert!(
        timed.windows(2).all(|w| w[0].0 <= w[1].0),
        "{kind} times never go back"
    );
    timed
}

/// stdout and stderr merged as `type=all` promises: by time, stdout first on a tie.
fn merged(out: &[(String, String)], err: &[(String, String)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, u8, String)> = out
        .iter()
        .map(|(t, l)| (t.clone(), 0, format!("stdout: {l}")))
        .chain(
            err.iter()
                .map(|(t, l)| (t.clone(), 1, format!("stderr: {l}"))),
        )
        .collect();
    all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    all.into_iter().map(|(t, _, l)| (t, l)).collect()
}

fn joined(timed: &[(String, String)], with_time: bool) -> String {
    timed
        .iter()
        .map(|(t, l)| {
            if with_time {
                format!("{t} {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Every file of a task's stream, concatenated from the disk.
fn on_disk(agent: &Agent, id: &str, kind: &str) -> Vec<u8> {
    let dir = agent
        .alloc_dir()
        .parent()
        .unwrap()
        .join(id)
        .join("alloc/logs");
    let mut indexes: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix(&format!("{TASK}.{kind}."))?.parse().ok()
        })
        .collect();
    indexes.sort_unstable();
    indexes
        .iter()
        .flat_map(|i| std::fs::read(dir.join(format!("{TASK}.{kind}.{i}"))).unwrap())
        .collect()
}

fn place_numbered(agent: &Agent) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    // The first run prints LINES numbered stdout lines (about 1.2 MB: one rotation) with an
    // stderr line every 1500, then idles; restarted (after a restart of the agent), the second run
    // waits for `go`, prints ten of each and exits.
    let script = format!(
        "d=$NOMAD_ALLOC_DIR/data; \
         if [ ! -e $d/ran ]; then touch $d/ran; i=0; \
           while [ $i -lt {LINES} ]; do \
             echo \"out $i ......................................................................\"; \
             if [ $((i % 1500)) -eq 0 ]; then echo \"err $i\" >&2; fi; i=$((i+1)); done; \
           touch $d/printed; exec sleep 3600; \
         else while [ ! -e $d/go ]; do sleep 0.05; done; i={LINES}; \
           while [ $i -lt $(({LINES}+10)) ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done; \
         fi"
    );
    let spec = serde_json::json!({"ID": id, "JobID": "logtime", "TaskGroup": "logtime", "Tasks": [{
        "Name": TASK, "Command": "/bin/sh", "Args": ["-c", script],
        "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 1}
    }]});
    let specs = agent.data_dir.join("specs");
    let tmp = specs.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, spec.to_string()).unwrap();
    std::fs::rename(&tmp, specs.join(format!("{id}.json"))).unwrap();
    id
}

#[test]
fn logs_by_time_across_a_rotation_and_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(temp.path(), &[]);
    let id = place_numbered(&agent);
    let data = agent
        .alloc_dir()
        .parent()
        .unwrap()
        .join(&id)
        .join("alloc/data");
    wait_until("the first run to print everything", || {
        data.join("printed").exists()
    });
    wait_task_running(&agent, &id, TASK);
    let listing = agent.get(&format!("/v1/client/fs/ls/{id}?path=alloc/logs"));
    assert!(
        listing.text().contains("numbered.stdout.1"),
        "{}",
        listing.text()
    );

    // With none of the new parameters: Nomad's bytes, plain and framed.
    let disk_out = on_disk(&agent, &id, "stdout");
    assert_eq!(
        logs(&agent, &id, "type=stdout&plain=true").into_bytes(),
        disk_out
    );
    let frames = logs(&agent, &id, "type=stdout");
    assert!(frames.starts_with(r#"{"Data":""#), "{}", &frames[..100]);
    assert!(!frames.contains("stdout: ") && !frames.contains(".idx"));

    // timestamps=true: every line, each prefixed, the text unchanged.
    let out = timed(&agent, &id, "stdout");
    let err = timed(&agent, &id, "stderr");
    assert_eq!(out.len(), LINES as usize);
    assert_eq!(err.len(), (LINES / 1500) as usize);
    assert_eq!(joined(&out, false).into_bytes(), disk_out);

    // since/until: a window across the rotation, bounded by recorded times.
    let (since, until) = (&out[10_000].0, &out[14_000].0);
    let window: Vec<(String, String)> = out
        .iter()
        .filter(|(t, _)| t >= since && t <= until)
        .cloned()
        .collect();
    assert!(window.len() >= 4_001);
    assert_eq!(
        logs(
            &agent,
            &id,
            &format!("type=stdout&plain=true&since={since}&until={until}")
        ),
        joined(&window, false)
    );

    // type=all: merged by recorded time, tagged; with lines=N, the last N of that.
    let all = merged(&out, &err);
    assert_eq!(
        logs(&agent, &id, "type=all&plain=true&timestamps=true"),
        joined(&all, true)
    );
    assert_eq!(
        logs(&agent, &id, "type=all&plain=true&lines=7"),
        joined(&all[all.len() - 7..], false)
    );

    // The agent restarts (the first run goes on), then the task is restarted: its second
    // run prints into new files and exits.
    assert!(agent.terminate().success());
    let agent = Agent::start_in(temp.path(), &[]);
    let restart = agent.request(
        "POST",
        &format!("/v1/client/allocation/{id}/restart"),
        &[],
        format!(r#"{{"TaskName":"{TASK}"}}"#).as_bytes(),
    );
    assert_eq!(restart.status, 200, "{}", restart.text());
    wait_until("the second run to start", || {
        task_state(&agent, &id, TASK).is_some_and(|s| s["State"] == "running" && s["Restarts"] == 1)
    });
    let tail_from = out[LINES as usize - 3].0.clone();
    let mut follow = agent.open_stream(
        &format!(
            "/v1/client/fs/logs/{id}?task={TASK}&type=all&plain=true&timestamps=true\
             &follow=true&until_exit=true&since={tail_from}"
        ),
        &[],
    );
    assert_eq!(follow.status, 200);
    std::fs::write(data.join("go"), b"").unwrap();
    let followed = String::from_utf8(follow.read_to_end_patiently()).unwrap();

    let out = timed(&agent, &id, "stdout");
    let err = timed(&agent, &id, "stderr");
    assert_eq!(out.len(), LINES as usize + 10);
    assert_eq!(out.last().unwrap().1, format!("out {}", LINES + 9));
    assert_eq!(err.last().unwrap().1, format!("err {}", LINES + 9));
    let all = merged(&out, &err);
    let expected: Vec<(String, String)> = all
        .iter()
        .filter(|(t, _)| *t >= tail_from)
        .cloned()
        .collect();
    assert!(expected.len() >= 23, "{expected:?}");
    // Followed live, a line is merged among what the two pumps had written when the stream
    // read; whatever the order of arrival, everything is there once, and the stream ended.
    let mut live: Vec<(String, String)> = followed
        .lines()
        .map(|l| {
            let (t, rest) = split_time(l);
            (t.to_string(), rest.to_string())
        })
        .collect();
    live.sort_by(|a, b| (&a.0, a.1.starts_with("stderr")).cmp(&(&b.0, b.1.starts_with("stderr"))));
    assert_eq!(joined(&live, true), joined(&expected, true));
    // Read after the exit, the same window is in exact arrival order.
    assert_eq!(
        logs(
            &agent,
            &id,
            &format!(
                "type=all&plain=true&timestamps=true&follow=true&until_exit=true&since={tail_from}"
            )
        ),
        joined(&expected, true)
    );

    // Nomad's bytes are still Nomad's after the restart.
    assert_eq!(
        logs(&agent, &id, "type=stderr&plain=true").into_bytes(),
        on_disk(&agent, &id, "stderr")
    );

    // The indexes are out of every fs route's sight: alloc/logs holds log files only.
    let ls = agent.get(&format!("/v1/client/fs/ls/{id}?path=alloc/logs"));
    assert!(
        ls.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["IsDir"] == false && f["Name"].as_str().unwrap().starts_with(TASK)),
        "{}",
        ls.text()
    );
    // An index where agents before issue 30 kept it (alloc/logs/.index) is still read.
    let alloc_dir = data.parent().unwrap().parent().unwrap();
    let index_dir = alloc_dir.join(TASK).join("private/logindex");
    let legacy_dir = alloc_dir.join("alloc/logs/.index");
    let name = format!("{TASK}.stdout.0.idx");
    std::fs::create_dir(&legacy_dir).unwrap();
    std::fs::rename(index_dir.join(&name), legacy_dir.join(&name)).unwrap();
    assert_eq!(
        timed(&agent, &id, "stdout"),
        out,
        "the times of an index in the legacy place"
    );
    // A log file without an index (written before indexes existed) serves without times.
    std::fs::remove_file(legacy_dir.join(&name)).unwrap();
    let text = logs(&agent, &id, "type=stdout&plain=true&timestamps=true");
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("out 0 "), "{first}");
    assert!(text.lines().last().unwrap().contains("Z out "), "{text}");
}
