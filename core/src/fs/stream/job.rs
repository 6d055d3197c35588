//! The logs of every allocation of a job, merged by arrival time (`GET /v1/job/:job_id/logs`,
//! caravan's own). Each line is one frame: Nomad's `StreamFrame` (`Data`, `File`, `Offset`)
//! with caravan's keys beside (`Alloc`, `Task`, `Type`, `Time` in Unix nanoseconds), so
//! Nomad's frame decoders read it and ignore what they do not know.
//!
//! Lines come from this node's allocations, read as `fs/logs?type=all` reads them, and, on a
//! server, from the job's allocations on other nodes: one relayed read per node (this same
//! route, which the node answers for its own allocations), at most [`MAX_RELAYS`] at once.
//! Membership is looked at again every second (and the caller's token with it): an
//! allocation that appears is added (`FileEvent: "allocation added"`), one that is collected,
//! no longer readable, or whose node goes down or away is reported once (`"allocation
//! gone"`, with a `Message` saying why) and dropped. None of that ends the stream.
//!
//! Order: without `follow`, exactly by arrival time across every allocation and node (a line
//! waits until every node still sending has sent a later one, or has ended). Following, each
//! pull sends at once what has arrived, in arrival order among itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Value, json};

use super::lines::{Line, LogSource};
use super::{HEARTBEAT_MS, PULL_BUDGET, Step, settle};
use crate::acl::Requirement;
use crate::acl::access::Access;
use crate::fs::log_files::{LOG_DIR, LogFiles};
use crate::fs::logtime::LineOptions;
use crate::host::{Allocation, Arrived, Host};
use crate::http::Request;

/// Most nodes read at once; the others wait for one to end.
pub const MAX_RELAYS: usize = 32;
/// Most bytes of one node's frame still incomplete: a node sending more is cut off.
const MAX_PENDING: usize = 1 << 20;
/// The capability the route needs, checked again for each allocation's namespace.
pub const READ_LOGS: Requirement = Requirement::Namespace(&["read-logs", "read-fs"]);

/// The event told in-band when an allocation of the job appears while following.
pub const ADDED: &str = "allocation added";
/// The event told in-band when an allocation is collected or lost.
pub const GONE: &str = "allocation gone";

/// What was asked.
#[derive(Debug, Clone)]
pub struct JobQuery {
    /// The job id.
    pub job: String,
    /// A namespace, or `*` for every one the caller may read.
    pub namespace: String,
    /// Only this task's logs; `None`: every task's.
    pub task: Option<String>,
    /// Which streams: `stdout`, `stderr`, or both.
    pub kinds: &'static [&'static str],
    /// The line and time parameters, as `fs/logs` takes them.
    pub options: LineOptions,
    /// Keep following for new lines and allocations.
    pub follow: bool,
    /// Read other nodes too (a server answering a caller, not a node answering a server).
    pub fan_out: bool,
    /// What each node is asked (this route, path and query).
    pub relay_target: String,
}

/// One task's stdout or stderr on this node.
struct Feed {
    alloc: String,
    task: String,
    kind: &'static str,
    source: LogSource,
}

/// One other node's relayed answer.
struct NodeFeed {
    node: String,
    relay: Option<u32>,
    pending: Vec<u8>,
    /// Whole frames with their times (`None`: an event, sent first).
    queue: VecDeque<(Option<i64>, Vec<u8>)>,
    allocs: BTreeSet<String>,
    ended: bool,
    /// Its relay had nothing more in this pull: not asked again until the next.
    drained: bool,
}

/// The body of `GET /v1/job/:job_id/logs`.
pub struct JobStream<W> {
    query: JobQuery,
    /// The caller's request, for the ACL checks each look at membership makes.
    request: Request,
    feeds: Vec<Feed>,
    watches: BTreeMap<String, W>,
    nodes: Vec<NodeFeed>,
    /// Every allocation seen, with its node; those reported gone are never added again.
    known: BTreeMap<String, String>,
    /// Those a look at membership found (one a node told of first may not be listed yet).
    listed: BTreeSet<String>,
    gone: BTreeSet<String>,
    /// Event frames to send before anything else.
    events: Vec<u8>,
    started: bool,
    next_refresh_ms: Option<u64>,
    next_heartbeat_ms: Option<u64>,
    ended: bool,
}

impl<W> JobStream<W> {
    /// The stream, with the allocations there are now (see [`JobStream::is_empty`]).
    pub fn new(host: &impl Host<Watch = W>, query: JobQuery, request: Request) -> Self {
        let mut stream = Self {
            query,
            request,
            feeds: Vec::new(),
            watches: BTreeMap::new(),
            nodes: Vec::new(),
            known: BTreeMap::new(),
            listed: BTreeSet::new(),
            gone: BTreeSet::new(),
            events: Vec::new(),
            started: false,
            next_refresh_ms: None,
            next_heartbeat_ms: None,
            ended: false,
        };
        stream.refresh(host);
        stream.started = true;
        stream
    }

    /// Whether no allocation of the job was found (or may be read).
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Look at the job's allocations again: add new ones, report and drop those gone.
    fn refresh(&mut self, host: &impl Host<Watch = W>) {
        let me = host.node_id();
        let roles = host.roles();
        let mut readable: BTreeMap<String, bool> = BTreeMap::new();
        let access = Access {
            request: &self.request,
            requirement: Some(READ_LOGS),
        };
        let mut wanted = |a: &Allocation| {
            a.job_id == self.query.job
                && (self.query.namespace == "*" || a.namespace == self.query.namespace)
                && *readable
                    .entry(a.namespace.clone())
                    .or_insert_with(|| access.namespace(host, &a.namespace).is_ok())
        };
        let mut present: BTreeMap<String, String> = BTreeMap::new();
        let mut local = Vec::new();
        if roles.client {
            local = host.allocations().into_iter().filter(&mut wanted).collect();
        }
        let mut remote = Vec::new();
        if roles.server && self.query.fan_out {
            remote = host
                .all_allocations()
                .into_iter()
                .filter(|p| p.node_id != me && wanted(&p.allocation))
                .collect();
        }
        for alloc in local {
            present.insert(alloc.id.clone(), me.clone());
            self.add_local(host, &me, alloc);
        }
        for placed in remote {
            present.insert(placed.allocation.id.clone(), placed.node_id.clone());
            self.add_remote(&placed.node_id, &placed.allocation.id);
        }
        let vanished: Vec<String> = self
            .listed
            .iter()
            .filter(|a| !present.contains_key(*a) && !self.gone.contains(*a))
            .cloned()
            .collect();
        self.listed.extend(present.into_keys());
        for alloc in vanished {
            self.report_gone(&alloc, "it was collected, or may no longer be read");
        }
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if node.ended {
                continue;
            }
            match host.node(&node.node) {
                Some(info) if info.ready => {}
                info => {
                    let name = info.map_or_else(|| node.node.clone(), |n| n.name);
                    self.end_node(host, i, &format!("node {name} is down"));
                }
            }
        }
        self.open_relays(host);
    }

    fn add_local(&mut self, host: &impl Host<Watch = W>, me: &str, alloc: Allocation) {
        if self.known.contains_key(&alloc.id) {
            return;
        }
        self.known.insert(alloc.id.clone(), me.to_string());
        for task in &alloc.tasks {
            if self.query.task.as_ref().is_some_and(|t| *t != task.name) {
                continue;
            }
            for kind in self.query.kinds {
                let first = LogFiles::new(&task.name, kind)
                    .list(host, &alloc.id)
                    .ok()
                    .and_then(|files| files.first().map(|f| f.index))
                    .unwrap_or(0);
                self.feeds.push(Feed {
                    alloc: alloc.id.clone(),
                    task: task.name.clone(),
                    kind,
                    source: LogSource::new(&task.name, kind, first, 0),
                });
            }
        }
        if self.query.follow
            && let Ok(watch) = host.watch(&alloc.id, LOG_DIR)
        {
            self.watches.insert(alloc.id.clone(), watch);
        }
        if self.started {
            self.event(&alloc.id, ADDED, None);
        }
    }

    fn add_remote(&mut self, node: &str, alloc: &str) {
        if self.known.contains_key(alloc) {
            return;
        }
        self.known.insert(alloc.to_string(), node.to_string());
        match self.nodes.iter_mut().find(|n| n.node == node && !n.ended) {
            // The node tells of allocations that appear on it itself.
            Some(feed) => {
                feed.allocs.insert(alloc.to_string());
            }
            None => {
                self.nodes.push(NodeFeed {
                    node: node.to_string(),
                    relay: None,
                    pending: Vec::new(),
                    queue: VecDeque::new(),
                    allocs: BTreeSet::from([alloc.to_string()]),
                    ended: false,
                    drained: false,
                });
                if self.started {
                    self.event(alloc, ADDED, None);
                }
            }
        }
    }

    /// Start the relays of waiting nodes while fewer than [`MAX_RELAYS`] are open.
    fn open_relays(&mut self, host: &impl Host) {
        let token = crate::acl::request_token(|n| self.request.header(n)).map(str::to_string);
        for i in 0..self.nodes.len() {
            let open = self.nodes.iter().filter(|n| n.relay.is_some() && !n.ended);
            if open.count() >= MAX_RELAYS {
                return;
            }
            let node = &mut self.nodes[i];
            if node.relay.is_some() || node.ended {
                continue;
            }
            match host.relay_open(&node.node, &self.query.relay_target, token.as_deref()) {
                Ok(id) => node.relay = Some(id),
                Err(why) => self.end_node(host, i, &format!("cannot read node: {why}")),
            }
        }
    }

    /// Drop node `i`: its allocations not yet reported gone are, with `why`.
    fn end_node(&mut self, host: &impl Host, i: usize, why: &str) {
        let node = &mut self.nodes[i];
        node.ended = true;
        node.queue.clear();
        if let Some(id) = node.relay.take() {
            host.relay_close(id);
        }
        let allocs: Vec<String> = node.allocs.iter().cloned().collect();
        for alloc in allocs {
            self.report_gone(&alloc, why);
        }
    }

    /// Report `alloc` gone once, and stop reading it here.
    fn report_gone(&mut self, alloc: &str, why: &str) {
        if !self.gone.insert(alloc.to_string()) {
            return;
        }
        self.feeds.retain(|f| f.alloc != alloc);
        self.watches.remove(alloc);
        for node in &mut self.nodes {
            node.allocs.remove(alloc);
        }
        self.event(alloc, GONE, Some(why));
    }

    fn event(&mut self, alloc: &str, event: &str, message: Option<&str>) {
        let mut frame = json!({"Alloc": alloc, "FileEvent": event});
        if let Some(message) = message {
            frame["Message"] = json!(message);
        }
        self.events
            .extend_from_slice(&crate::wire::json::to_vec(&frame, false));
    }

    /// Take what node `i`'s relay brought, when its queue is empty.
    fn pump_node(&mut self, host: &impl Host, i: usize) {
        let node = &mut self.nodes[i];
        let Some(id) = node
            .relay
            .filter(|_| !node.ended && !node.drained && node.queue.is_empty())
        else {
            return;
        };
        let why = match host.relay_take(id) {
            Arrived::Pending => {
                node.drained = true;
                return;
            }
            Arrived::Data(data) => {
                node.pending.extend_from_slice(&data);
                match self.frames(host, i) {
                    Ok(()) => return,
                    Err(why) => why,
                }
            }
            Arrived::End => {
                host.relay_close(id);
                let node = &mut self.nodes[i];
                node.ended = true;
                node.relay = None;
                let left: Vec<String> = node.allocs.iter().cloned().collect();
                // A node that ends without telling of an allocation it had: gone there.
                if !left.is_empty() && self.query.follow {
                    format!("node {} ended its stream", node.node)
                } else {
                    return;
                }
            }
            Arrived::Refused(status, message) => format!("node answered {status}: {message}"),
            Arrived::Failed(why) => format!("node went away: {why}"),
        };
        self.end_node(host, i, &why);
    }

    /// Split node `i`'s pending bytes into frames, keeping those of its own allocations.
    /// Trusts nothing: a node may speak only of allocations no other node holds.
    fn frames(&mut self, host: &impl Host, i: usize) -> Result<(), String> {
        let pending = std::mem::take(&mut self.nodes[i].pending);
        let mut values = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut consumed = 0;
        let mut frames = Vec::new();
        loop {
            match values.next() {
                None => break,
                Some(Ok(value)) => {
                    let end = values.byte_offset();
                    frames.push((value, pending[consumed..end].trim_ascii().to_vec()));
                    consumed = end;
                }
                Some(Err(err)) if err.is_eof() => break,
                Some(Err(_)) => return Err("it sent something that is not a frame".into()),
            }
        }
        let rest = pending[consumed..].to_vec();
        if rest.len() > MAX_PENDING {
            return Err("it sent a frame too large".into());
        }
        self.nodes[i].pending = rest;
        for (value, raw) in frames {
            let Some(frame) = value.as_object() else {
                return Err("it sent something that is not a frame".into());
            };
            let Some(alloc) = frame.get("Alloc").and_then(Value::as_str) else {
                continue; // a heartbeat
            };
            if !self.owns(host, i, alloc) {
                continue;
            }
            if frame.get("FileEvent").and_then(Value::as_str) == Some(GONE) {
                // Passed on as the node worded it, and never again.
                if !self.gone.insert(alloc.to_string()) {
                    continue;
                }
                self.feeds.retain(|f| f.alloc != alloc);
                self.nodes[i].allocs.remove(alloc);
            }
            let time = frame.get("Time").and_then(Value::as_i64);
            if frame.contains_key("FileEvent") {
                self.events.extend_from_slice(&raw);
            } else {
                self.nodes[i].queue.push_back((time, raw));
            }
        }
        Ok(())
    }

    /// Whether node `i` may speak of `alloc`: it holds it, or no other node does (it
    /// appeared there before the node's next heartbeat).
    fn owns(&mut self, host: &impl Host, i: usize, alloc: &str) -> bool {
        if self.gone.contains(alloc) {
            return false;
        }
        let node = &self.nodes[i].node;
        if self.nodes[i].allocs.contains(alloc) {
            return true;
        }
        let elsewhere = host
            .find_allocation(alloc)
            .is_some_and(|p| p.node_id != *node)
            || self.known.get(alloc).is_some_and(|n| n != node);
        if elsewhere {
            return false;
        }
        self.known.insert(alloc.to_string(), node.clone());
        self.nodes[i].allocs.insert(alloc.to_string());
        true
    }

    /// The next part of the body.
    pub fn next(&mut self, host: &impl Host<Watch = W>, now_ms: u64) -> Step {
        if self.ended {
            return Step::End;
        }
        let next_heartbeat = *self.next_heartbeat_ms.get_or_insert(now_ms + HEARTBEAT_MS);
        let next_refresh = *self.next_refresh_ms.get_or_insert(now_ms + HEARTBEAT_MS);
        if now_ms >= next_refresh {
            self.next_refresh_ms = Some(now_ms + HEARTBEAT_MS);
            self.refresh(host);
        }
        let mut out = std::mem::take(&mut self.events);
        if now_ms >= next_heartbeat {
            self.next_heartbeat_ms = Some(now_ms + HEARTBEAT_MS);
            out.extend_from_slice(b"{}");
        }
        for feed in &mut self.feeds {
            feed.source.rouse();
        }
        for node in &mut self.nodes {
            node.drained = false;
        }
        while out.len() < PULL_BUDGET {
            match self.pick(host) {
                Some(Pick::Local(i)) => self.emit_local(&mut out, i),
                Some(Pick::Node(i)) => {
                    if let Some((_, frame)) = self.nodes[i].queue.pop_front() {
                        out.extend_from_slice(&frame);
                    }
                }
                None => break,
            }
            // Reports made while reading go before the lines after them.
            out.append(&mut self.events);
        }
        let over = !self.query.follow
            && self.nodes.iter().all(|n| n.ended && n.queue.is_empty())
            && out.len() < PULL_BUDGET;
        self.ended = over;
        settle(out, over, self.next_heartbeat_ms, now_ms)
    }

    /// The next line to send: the earliest among what every source has now. Without
    /// `follow`, none while a node still sending has nothing queued (its next line may be
    /// earlier than any here).
    fn pick(&mut self, host: &impl Host<Watch = W>) -> Option<Pick> {
        let partial_ends = !self.query.follow;
        let mut best: Option<(i64, Pick)> = None;
        let mut i = 0;
        while i < self.feeds.len() {
            let feed = &mut self.feeds[i];
            match feed.source.head(host, &feed.alloc, partial_ends) {
                Ok(Some(time)) if !self.query.options.shows(time) => {
                    feed.source.take();
                    continue;
                }
                Ok(Some(time)) => {
                    let t = time.unwrap_or(i64::MIN);
                    if best.as_ref().is_none_or(|(b, _)| t < *b) {
                        best = Some((t, Pick::Local(i)));
                    }
                }
                Ok(None) => {}
                Err((path, err)) => {
                    let alloc = feed.alloc.clone();
                    self.report_gone(&alloc, &format!("failed to stream {path:?}: {err}"));
                    continue;
                }
            }
            i += 1;
        }
        for i in 0..self.nodes.len() {
            self.pump_node(host, i);
            let node = &self.nodes[i];
            match node.queue.front() {
                Some((time, _)) => {
                    let t = time.unwrap_or(i64::MIN);
                    if best.as_ref().is_none_or(|(b, _)| t < *b) {
                        best = Some((t, Pick::Node(i)));
                    }
                }
                None if !self.query.follow && !node.ended => return None,
                None => {}
            }
        }
        best.map(|(_, pick)| pick)
    }

    fn emit_local(&mut self, out: &mut Vec<u8>, i: usize) {
        let feed = &mut self.feeds[i];
        let Some(line) = feed.source.take() else {
            return;
        };
        let file = feed.source.path_of(&line);
        encode_line(out, feed, &file, &line);
    }
}

enum Pick {
    Local(usize),
    Node(usize),
}

/// One line's frame, keys sorted as Nomad's encoder sorts them; hand-written, as
/// `encode_frame`: it is the hot path.
fn encode_line(out: &mut Vec<u8>, feed: &Feed, file: &str, line: &Line) {
    let string = |out: &mut Vec<u8>, s: &str| {
        let mut quoted = String::new();
        crate::wire::json::write_string(&mut quoted, s);
        out.extend_from_slice(quoted.as_bytes());
    };
    out.extend_from_slice(b"{\"Alloc\":");
    string(out, &feed.alloc);
    out.extend_from_slice(b",\"Data\":\"");
    crate::wire::b64::encode_into(out, &line.bytes);
    out.extend_from_slice(b"\",\"File\":");
    string(out, file);
    out.extend_from_slice(b",\"Offset\":");
    out.extend_from_slice(line.end.to_string().as_bytes());
    out.extend_from_slice(b",\"Task\":");
    string(out, &feed.task);
    if let Some(time) = line.time {
        out.extend_from_slice(b",\"Time\":");
        out.extend_from_slice(time.to_string().as_bytes());
    }
    out.extend_from_slice(b",\"Type\":\"");
    out.extend_from_slice(feed.kind.as_bytes());
    out.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests;
