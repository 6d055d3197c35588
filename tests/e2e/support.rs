//! Spawning agents and speaking HTTP to them with the daemon's own client.

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravan::http_client::{self, Next, Streaming};

/// A running agent; dropping it kills the process and, if the test failed, prints its log.
pub struct Agent {
    child: Child,
    pub addr: String,
    pub node_id: String,
    pub demo_alloc: String,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
    _temp: Option<tempfile::TempDir>,
}

impl Agent {
    /// A dev agent with its own temporary data dir.
    pub fn start() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let mut agent = Self::start_in(&dir, &[]);
        agent._temp = Some(temp);
        agent
    }

    /// A dev agent on `data_dir` with extra flags.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["-dev"];
        args.extend_from_slice(extra);
        Self::spawn(data_dir, &args)
    }

    /// An agent on `data_dir`, loopback, a free port, and these flags.
    pub fn spawn(data_dir: &Path, flags: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
        command
            .args(["agent", "-bind=127.0.0.1", "-http-port=0"])
            .arg(format!("-data-dir={}", data_dir.display()))
            .args(flags);
        Self::from_command(command)
    }

    /// A dev agent on `data_dir`, with extra flags, whose process may hold at most `max_fds`
    /// descriptors (soft and hard limits: the agent cannot raise them).
    pub fn start_with_fd_limit(data_dir: &Path, max_fds: u32, extra: &[&str]) -> Self {
        let mut command = Command::new("sh");
        command
            .args(["-c", &format!("ulimit -n {max_fds} && exec \"$0\" \"$@\"")])
            .arg(env!("CARGO_BIN_EXE_caravan"))
            .args(["agent", "-dev", "-bind=127.0.0.1", "-http-port=0"])
            .arg(format!("-data-dir={}", data_dir.display()))
            .args(extra);
        Self::from_command(command)
    }

    /// Start `command` (an agent) and wait until it serves; its data dir is the one it
    /// prints.
    pub fn from_command(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to spawn caravan");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut addr, mut node_id, mut demo_alloc) = (None, String::new(), String::new());
        let mut data_dir = PathBuf::new();
        let mut line = String::new();
        while addr.is_none() {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("agent exited before serving:\n{}", log.lock().unwrap());
            }
            if let Some(rest) = line.strip_prefix("==> caravan agent: node ") {
                let (node, dir) = rest.trim_end().split_once(", data dir ").unwrap();
                node_id = node.to_string();
                data_dir = PathBuf::from(dir);
            }
            if let Some(rest) = line.strip_prefix("==> dev mode: demo allocation ") {
                demo_alloc = rest.trim().to_string();
            }
            if let Some(rest) = line
                .strip_prefix("Serving HTTP on http://")
                .or_else(|| line.strip_prefix("Serving HTTPS on https://"))
            {
                addr = Some(rest.trim().trim_end_matches('/').to_string());
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self {
            child,
            addr: addr.unwrap(),
            node_id,
            demo_alloc,
            data_dir,
            log,
            _temp: None,
        }
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The demo allocation's directory on disk.
    pub fn alloc_dir(&self) -> PathBuf {
        self.data_dir.join("alloc").join(&self.demo_alloc)
    }

    pub fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[], b"")
    }

    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        request(&self.addr, method, target, headers, body)
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    /// Ask the agent to shut down gracefully.
    pub fn send_sigterm(&self) {
        self.signal(rustix::process::Signal::TERM);
    }

    /// Send `signal` to the agent process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal)
            .unwrap();
    }

    /// Wait for the agent to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = &mut self.child;
        wait_for("the agent to exit", || child.try_wait().unwrap())
    }
}

impl Drop for Agent {
    /// Kill the agent and, if it was still running (the test is over with it), the executors
    /// of its data dir with their tasks: tasks outlive their agent, and a test's temporary
    /// dir may not go away cleanly under tasks still writing into it. An agent the test
    /// stopped itself leaves its tasks to the next agent on the same dir.
    fn drop(&mut self) {
        let running = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let _ = self.child.wait();
        if running {
            kill_executors(&self.data_dir);
        }
        if std::thread::panicking() {
            eprintln!("--- agent log ---\n{}", self.log());
        }
    }
}

/// SIGKILL every `caravan executor` working under `data_dir` (its task gets SIGKILL with
/// it), and wait until they are gone.
pub fn kill_executors(data_dir: &Path) {
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let find = || -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                argv.len() > 2
                    && argv[1] == b"executor"
                    && Path::new(std::ffi::OsStr::from_bytes(argv[2])).starts_with(&dir)
            })
            .filter(|pid| {
                // Zombies are gone already (waiting for a parent that may never reap them).
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
            })
            .collect()
    };
    for pid in find() {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    // Not `wait_until`: this runs in `drop`, maybe while a failed test unwinds.
    let deadline = Instant::now() + PATIENCE;
    while !find().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a connection of its own, read to the end (`caravan::http_client`).
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let request = http_client::request(method, target, headers, body.to_vec()).unwrap();
    let reply = http_client::block_on(async {
        tokio::time::timeout(PATIENCE, http_client::fetch(addr, request)).await
    })
    .expect("no answer within PATIENCE")
    .unwrap();
    Reply {
        status: reply.status.as_u16(),
        headers: header_pairs(&reply.headers),
        body: reply.body.to_vec(),
    }
}

/// Headers as (lower-case name, value) pairs, in order.
fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Write a spec for a new allocation whose tasks run until stopped, and wait until the
/// agent has placed it.
pub fn place(agent: &Agent, tasks: &[&str]) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let tasks: Vec<serde_json::Value> = tasks
        .iter()
        .map(|t| serde_json::json!({"Name": t, "Command": "/bin/sleep", "Args": ["3600"]}))
        .collect();
    let spec = serde_json::json!({"ID": id, "JobID": "e2e", "TaskGroup": "e2e", "Tasks": tasks});
    write_spec(agent, &spec);
    wait_until(&format!("allocation {id} to be placed"), || {
        agent.get(&format!("/v1/client/fs/ls/{id}")).status == 200
    });
    id
}

/// Write an allocation spec into the agent's specs dir atomically (a temporary name, then a
/// rename), so the agent never reads half a spec.
pub fn write_spec(agent: &Agent, spec: &serde_json::Value) {
    let id = spec["ID"].as_str().expect("a spec has an ID");
    let specs = agent.data_dir.join("specs");
    let tmp = specs.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(spec).unwrap()).unwrap();
    std::fs::rename(&tmp, specs.join(format!("{id}.json"))).unwrap();
}

// One place for waiting on states, shared with the host's unit tests.
pub use caravan::util::testing::{PATIENCE, wait_for, wait_until};

/// Wait until the agent's log contains `needle`.
pub fn wait_log(agent: &Agent, needle: &str) {
    wait_until(needle, || agent.log().contains(needle));
}

/// Wait until the agent's log, after its first `from` bytes (a length of [`Agent::log`]
/// taken earlier), contains `needle`.
pub fn wait_log_after(agent: &Agent, from: usize, needle: &str) {
    wait_until(needle, || agent.log()[from..].contains(needle));
}

/// `GET /v1/allocation/:id`'s state of `task`, once the allocation is known.
pub fn task_state(agent: &Agent, alloc: &str, task: &str) -> Option<serde_json::Value> {
    let reply = agent.get(&format!("/v1/allocation/{alloc}"));
    if reply.status != 200 {
        return None;
    }
    let state = reply.json()["TaskStates"][task].clone();
    (!state.is_null()).then_some(state)
}

/// Wait until the API reports `task` of `alloc` as started (what `fs/logs` requires).
pub fn wait_task_running(agent: &Agent, alloc: &str, task: &str) {
    wait_until(&format!("task {task} of {alloc} to be running"), || {
        task_state(agent, alloc, task)
            .is_some_and(|s| s["State"] == "running" && !s["StartedAt"].is_null())
    });
}

impl Agent {
    /// Open a streamed request and read its headers.
    pub fn open_stream(&self, target: &str, headers: &[(&str, &str)]) -> BodyReader {
        BodyReader::open(&self.addr, target, headers)
    }
}

/// Reads a response body as it arrives.
pub struct BodyReader {
    stream: Streaming,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body bytes not yet taken.
    body: Vec<u8>,
    pub ended: bool,
}

impl BodyReader {
    fn open(addr: &str, target: &str, headers: &[(&str, &str)]) -> Self {
        let request = http_client::request("GET", target, headers, Vec::new()).unwrap();
        let stream = Streaming::open(addr, request).unwrap();
        Self {
            status: stream.status.as_u16(),
            headers: header_pairs(&stream.headers),
            stream,
            body: Vec::new(),
            ended: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Wait up to `timeout` for more body bytes; returns what is available (maybe nothing).
    pub fn read_for(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        while self.body.is_empty() && !self.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.fill(left);
        }
        std::mem::take(&mut self.body)
    }

    /// Wait (up to [`PATIENCE`]) for more body bytes and return them; panics if the body
    /// ends or nothing comes.
    pub fn read_some(&mut self) -> Vec<u8> {
        let more = self.read_for(PATIENCE);
        assert!(!more.is_empty(), "the stream ended or stalled");
        more
    }

    /// Read until `done` holds for everything read by this call, and return all of it;
    /// panics naming `what` if the body ends first or [`PATIENCE`] passes.
    pub fn read_until(&mut self, what: &str, mut done: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let mut all = Vec::new();
        while !done(&all) {
            assert!(
                !self.ended && Instant::now() < deadline,
                "the stream {} before {what}: {}",
                if self.ended { "ended" } else { "stalled" },
                String::from_utf8_lossy(&all)
            );
            all.extend(self.read_for(Duration::from_millis(200)));
        }
        all
    }

    /// Read until the body ends, for up to [`PATIENCE`]; panics if it does not end.
    pub fn read_to_end_patiently(&mut self) -> Vec<u8> {
        let all = self.read_to_end(PATIENCE);
        assert!(self.ended, "the stream did not end");
        all
    }

    /// Read until the body ends (or `timeout` passes).
    pub fn read_to_end(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut all = Vec::new();
        while !self.ended && Instant::now() < deadline {
            all.extend(self.read_for(deadline.saturating_duration_since(Instant::now())));
        }
        all.extend(std::mem::take(&mut self.body));
        all
    }

    fn fill(&mut self, timeout: Duration) {
        match self.stream.next(timeout.max(Duration::from_millis(1))) {
            Next::Data(data) => self.body.extend_from_slice(&data),
            Next::Idle => {}
            Next::End => self.ended = true,
        }
    }
}
