//! What the people's commands ask an agent, through the one HTTP client
//! ([`crate::http_client`]): JSON calls whose failures carry the agent's status and
//! message, allocation ids by unique prefix (as Nomad's CLI), and streamed bodies read as
//! frames until they end or Ctrl-C.

use std::io::Write;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::BodyExt;
use serde_json::Value;

use super::frames::{Decoder, Frame};
use super::output;
use crate::http_client::{self, Agent, TOKEN_HEADER};

/// The agent a command talks to (its global flags over `NOMAD_*`).
pub struct Api {
    agent: Agent,
}

/// An answer other than 200, worded as Nomad's API client words it.
fn unexpected(status: u16, body: &[u8]) -> anyhow::Error {
    let text = String::from_utf8_lossy(body);
    anyhow!("Unexpected response code: {status} ({})", text.trim())
}

impl Api {
    /// A client of the agent `target` names, with its TLS and token.
    pub fn new(target: &super::Target) -> Result<Self> {
        Ok(Self {
            agent: target.agent()?,
        })
    }

    /// The agent, for calls of other kinds (`alloc exec`'s WebSocket).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The agent's `host:port`.
    pub fn host(&self) -> &str {
        &self.agent.host
    }

    /// `method path`, whose answer must be 200; its body.
    pub fn call(&self, method: &str, path: &str, body: impl Into<bytes::Bytes>) -> Result<Vec<u8>> {
        let reply = self
            .agent
            .call(method, path, body)
            .with_context(|| format!("failed to reach the agent at {}", self.agent.host))?;
        if reply.status != 200 {
            return Err(unexpected(reply.status.as_u16(), &reply.body));
        }
        Ok(reply.body.to_vec())
    }

    /// `GET path` as JSON.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let body = self.call("GET", path, "")?;
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "the agent answered {path} with something other than JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        let body = self.call("POST", path, serde_json::to_vec(body)?)?;
        serde_json::from_slice(&body).context("the agent answered with something other than JSON")
    }

    /// The allocation `id` names: a whole id, or a prefix that matches exactly one of the
    /// allocations the token may list (ambiguous: the candidates are listed and it fails).
    pub fn allocation(&self, id: &str) -> Result<Value> {
        if id.len() < 2 {
            bail!("Identifier must contain at least two characters.");
        }
        if id.len() == 36 {
            return self.get_json(&format!("/v1/allocation/{}", encode(id)));
        }
        let namespace = self.agent.namespace.as_deref().unwrap_or("*");
        let list = self.get_json(&format!(
            "/v1/allocations?namespace={}&prefix={}",
            encode(namespace),
            encode(id)
        ))?;
        let matches: Vec<&Value> = list
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|a| a["ID"].as_str().is_some_and(|i| i.starts_with(id)))
                    .collect()
            })
            .unwrap_or_default();
        match matches.as_slice() {
            [] => bail!("No allocation(s) with prefix or id {id:?} found"),
            [one] => Ok((*one).clone()),
            many => {
                let mut rows = vec![vec![
                    "ID".to_string(),
                    "Node ID".into(),
                    "Task Group".into(),
                    "Desired".into(),
                    "Status".into(),
                ]];
                for a in many {
                    rows.push(vec![
                        output::cell(&a["ID"]),
                        output::short(a["NodeID"].as_str().unwrap_or(""), false),
                        output::cell(&a["TaskGroup"]),
                        output::cell(&a["DesiredStatus"]),
                        output::cell(&a["ClientStatus"]),
                    ]);
                }
                bail!(
                    "Prefix matched multiple allocations\n\n{}",
                    output::table(&rows).trim_end()
                )
            }
        }
    }

    /// Stream `path` and hand each frame to `each`; stops when the body ends, `each` says
    /// its output is closed (`Ok(false)`), or on Ctrl-C / SIGTERM: all clean ends.
    pub fn frames(
        &self,
        path: &str,
        each: impl FnMut(Frame) -> Result<bool> + Send + 'static,
    ) -> Result<()> {
        let streams = vec![(path.to_string(), Box::new(each) as FrameSink)];
        self.frames_of(streams)
    }

    /// Several streams at once (stdout and stderr of a task), until all end, Ctrl-C, or
    /// any one's output is closed (`| head`: nobody would read the others' either).
    pub fn frames_of(&self, streams: Vec<(String, FrameSink)>) -> Result<()> {
        http_client::block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            // Registered before the first request goes out, so Ctrl-C is never lost.
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            let mut tasks = tokio::task::JoinSet::new();
            for (path, sink) in streams {
                tasks.spawn(read_frames(self.agent.clone(), path, sink));
            }
            // Each stream is read concurrently; the first error or closed output ends them
            // all (returning drops the set, which aborts the others).
            let all = async {
                while let Some(done) = tasks.join_next().await {
                    if done.context("a stream's reader failed")?? == Ended::OutputClosed {
                        break;
                    }
                }
                Ok(())
            };
            tokio::select! {
                result = all => result,
                _ = interrupt.recv() => Ok(()),
                _ = terminate.recv() => Ok(()),
            }
        })
    }
}

/// Why a stream's reading stopped.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The agent ended the body.
    Body,
    /// The sink's output is closed.
    OutputClosed,
}

async fn read_frames(agent: Agent, path: String, mut sink: FrameSink) -> Result<Ended> {
    let mut headers = Vec::new();
    if let Some(token) = &agent.token {
        headers.push((TOKEN_HEADER, token.as_str()));
    }
    let request = http_client::request("GET", &agent.target(&path), &headers, "")?;
    let response = agent
        .send(request)
        .await
        .with_context(|| format!("failed to reach the agent at {}", agent.host))?;
    let (parts, mut body) = response.into_parts();
    if parts.status != 200 {
        let text = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(unexpected(parts.status.as_u16(), &text));
    }
    let mut decoder = Decoder::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the agent's stream broke off")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        for frame in decoder.push(&data)? {
            if frame.is_heartbeat() {
                continue;
            }
            if !sink(frame)? {
                return Ok(Ended::OutputClosed);
            }
        }
    }
    decoder.finish().map(|()| Ended::Body)
}

/// What receives a stream's frames; `Ok(false)` stops reading.
pub type FrameSink = Box<dyn FnMut(Frame) -> Result<bool> + Send>;

/// A frame's data written to `out` at once; `Ok(false)` when `out` is a closed pipe.
pub fn write_data(out: &mut impl Write, frame: &Frame) -> Result<bool> {
    let data = frame.bytes()?;
    if data.is_empty() {
        return Ok(true);
    }
    Ok(output::emit(out, &data)?)
}

/// A frame as one line of JSON (`-json`): lossless, heartbeats already dropped.
pub fn write_json_line(out: &mut impl Write, frame: &Frame) -> Result<bool> {
    let mut line = serde_json::to_vec(frame)?;
    line.push(b'\n');
    Ok(output::emit(out, &line)?)
}

/// Percent-encode a query value or path segment (unreserved characters and `/` stay).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `path?k=v&…` with each value encoded.
pub fn with_query(path: &str, query: &[(&str, String)]) -> String {
    let mut out = path.to_string();
    for (i, (key, value)) in query.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// The task to read: the one asked for, or the allocation's only one.
pub(super) fn pick_task(alloc: &Value, asked: Option<&str>) -> Result<String> {
    if let Some(task) = asked {
        return Ok(task.to_string());
    }
    let mut tasks: Vec<&String> = alloc["TaskStates"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    tasks.sort();
    match tasks.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("Allocation has no tasks; give the task's name"),
        many => bail!(
            "Allocation has {} tasks; give one of: {}",
            many.len(),
            many.iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
