//! Any method, path, query, headers and body against the in-memory host, ACLs on and off,
//! a few requests in a row (metadata writes, bootstrap and GC change the host's state).

#![no_main]

use arbitrary::Arbitrary;
use caravan_core::acl::Requirement;
use caravan_core::fake::{ALLOC, NODE};
use caravan_core::http::{Action, Request};
use caravan_core::router::{FsOp, Route, route};
use caravan_core_fuzz::*;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
    Options,
    Head,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum RouteSel {
    Fs(u8),
    AllocAction(u8),
    Fixed(u8),
    NodeOrAllocation(bool),
}

#[derive(Debug, Arbitrary)]
enum Path {
    /// A real route with an allocation or node id (or any id).
    Route(RouteSel, Option<String>, Option<Word>),
    /// Concatenated words.
    Words(Vec<Word>),
}

impl Path {
    fn text(&self) -> String {
        match self {
            Path::Route(sel, id, suffix) => {
                let mut path = match sel {
                    RouteSel::Fs(i) => {
                        let ops = ["ls", "stat", "readat", "cat", "stream", "logs"];
                        format!("/v1/client/fs/{}/", ops[*i as usize % ops.len()])
                    }
                    RouteSel::AllocAction(_) => "/v1/client/allocation/".to_string(),
                    RouteSel::Fixed(i) => {
                        let fixed = [
                            "/v1/client/metadata",
                            "/v1/client/stats",
                            "/v1/client/gc",
                            "/v1/acl/token/self",
                            "/v1/acl/bootstrap",
                            "/v1/internal/node/register",
                            "/v1/nodes",
                            "/v1/allocations",
                        ];
                        return fixed[*i as usize % fixed.len()].to_string()
                            + &suffix.as_ref().map(Word::text).unwrap_or_default();
                    }
                    RouteSel::NodeOrAllocation(node) => if *node {
                        "/v1/node/"
                    } else {
                        "/v1/allocation/"
                    }
                    .to_string(),
                };
                let default = match sel {
                    RouteSel::NodeOrAllocation(true) => NODE,
                    _ => ALLOC,
                };
                path.push_str(id.as_deref().unwrap_or(default));
                if let RouteSel::AllocAction(i) = sel {
                    let actions = [
                        "stats", "gc", "restart", "signal", "exec", "checks", "pause", "snapshot",
                    ];
                    path.push('/');
                    path.push_str(actions[*i as usize % actions.len()]);
                }
                if let Some(suffix) = suffix {
                    path.push_str(&suffix.text());
                }
                path
            }
            Path::Words(words) => words.iter().take(8).map(Word::text).collect(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Value {
    Word(Word),
    Int(i64),
}

#[derive(Debug, Arbitrary)]
enum TokenSel {
    Management,
    User,
    Unknown,
    Raw(String),
}

/// A task in a registration: name, state, start time (seconds, nanoseconds).
type TaskSpec = (Word, u8, Option<(i64, u64)>);

#[derive(Debug, Arbitrary)]
enum Body {
    Empty,
    Raw(Vec<u8>),
    Meta {
        node_id: Option<Word>,
        meta: Option<Vec<(Word, Option<Word>)>>,
    },
    Register {
        node: [Word; 4],
        allocations: Vec<(Word, u8, Vec<TaskSpec>)>,
    },
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        use serde_json::json;
        match self {
            Body::Empty => Vec::new(),
            Body::Raw(bytes) => bytes.clone(),
            Body::Meta { node_id, meta } => {
                let mut body = serde_json::Map::new();
                if let Some(id) = node_id {
                    body.insert("NodeID".into(), id.text().into());
                }
                if let Some(meta) = meta {
                    let entries: serde_json::Map<_, _> = meta
                        .iter()
                        .take(8)
                        .map(|(k, v)| (k.text(), v.as_ref().map(Word::text).into()))
                        .collect();
                    body.insert("Meta".into(), entries.into());
                }
                serde_json::to_vec(&body).unwrap()
            }
            Body::Register { node, allocations } => {
                let statuses = ["pending", "running", "complete", "failed", "lost", "x"];
                let states = ["pending", "running", "dead", "x"];
                let allocations: Vec<_> = allocations
                    .iter()
                    .take(4)
                    .map(|(id, status, tasks)| {
                        let tasks: Vec<_> = tasks
                            .iter()
                            .take(4)
                            .map(|(name, state, started)| {
                                json!({
                                    "name": name.text(),
                                    "state": states[*state as usize % states.len()],
                                    "started_at": started.map(|(s, n)| json!({
                                        "secs_since_epoch": s,
                                        "nanos_since_epoch": n,
                                    })),
                                })
                            })
                            .collect();
                        json!({
                            "spec": {"ID": id.text(), "Namespace": "default"},
                            "client_status": statuses[*status as usize % statuses.len()],
                            "tasks": tasks,
                        })
                    })
                    .collect();
                serde_json::to_vec(&json!({
                    "Node": {
                        "ID": node[0].text(),
                        "Name": node[1].text(),
                        "Datacenter": node[2].text(),
                        "HTTPAddr": node[3].text(),
                    },
                    "Allocations": allocations,
                }))
                .unwrap()
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Req {
    method: Method,
    path: Path,
    encode_path: bool,
    query: Vec<(Word, Value, bool)>,
    token: Option<(TokenSel, bool)>,
    origin: Option<Word>,
    preflight: Option<Word>,
    headers: Vec<(String, String)>,
    body: Body,
    pulls: Vec<u16>,
}

impl Req {
    fn request(&self) -> Request {
        let method = match &self.method {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Options => "OPTIONS".into(),
            Method::Head => "HEAD".into(),
            Method::Raw(m) => m.clone(),
        };
        let mut path = self.path.text();
        if self.encode_path {
            path = percent_encode(&path);
        }
        let query: Vec<String> = self
            .query
            .iter()
            .take(10)
            .map(|(key, value, encode)| {
                let value = match value {
                    Value::Word(w) => w.text(),
                    Value::Int(i) => i.to_string(),
                };
                let (key, value) = (key.text(), value);
                if *encode {
                    format!("{}={}", percent_encode(&key), percent_encode(&value))
                } else {
                    format!("{key}={value}")
                }
            })
            .collect();
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some((token, bearer)) = &self.token {
            let secret = match token {
                TokenSel::Management => MANAGEMENT_SECRET.to_string(),
                TokenSel::User => USER_SECRET.into(),
                TokenSel::Unknown => "nobody".into(),
                TokenSel::Raw(s) => s.clone(),
            };
            if *bearer {
                headers.push(("authorization".into(), format!("Bearer {secret}")));
            } else {
                headers.push(("x-nomad-token".into(), secret));
            }
        }
        if let Some(origin) = &self.origin {
            headers.push(("origin".into(), origin.text()));
        }
        if let Some(method) = &self.preflight {
            headers.push(("access-control-request-method".into(), method.text()));
        }
        headers.extend(
            self.headers
                .iter()
                .take(4)
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
        );
        // What an HTTP parser lets through: token names, values without control bytes.
        let headers = headers
            .into_iter()
            .map(|(n, v)| {
                let n: String = n
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c))
                    .collect();
                let v: String = v
                    .chars()
                    .filter(|c| *c == '\t' || !c.is_control())
                    .collect();
                (n, v)
            })
            .filter(|(n, _)| !n.is_empty())
            .collect();
        Request {
            method,
            path,
            query: query.join("&"),
            headers,
            body: self.body.bytes(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    world: World,
    requests: Vec<Req>,
}

/// Whether the caller of `req` has no rights at all in `world` (ACLs on, no usable token
/// and no anonymous policy).
fn powerless(world: &World, req: &Request) -> bool {
    if world.acl.is_none() || world.anonymous_policy {
        return false;
    }
    match caravan_core::acl::request_token(|name| req.header(name)) {
        None => true,
        Some(secret) => secret != MANAGEMENT_SECRET && secret != USER_SECRET,
    }
}

fuzz_target!(|input: Input| {
    let host = input.world.build();
    let requests: Vec<Request> = input.requests.iter().take(4).map(Req::request).collect();
    let secret_check = !requests.iter().any(mentions_canary);
    for (req, spec) in requests.iter().zip(&input.requests) {
        let routed = route(&req.path);
        let action = caravan_core::handle(&host, req);
        let framing = framing(&action);
        let no_rights = powerless(&input.world, req);
        match action {
            Action::Respond(response) => {
                check_response(&response, secret_check);
                if response.status == 500 {
                    // The fake host never fails; only Nomad's log-index parse error remains.
                    assert!(
                        matches!(routed, Ok(Route::Fs(FsOp::Logs, _))),
                        "500 for {req:?}: {response:?}"
                    );
                }
                if no_rights && response.status == 200 {
                    let requirement = routed
                        .as_ref()
                        .ok()
                        .and_then(|r| r.spec().requirement(&req.method));
                    assert!(
                        matches!(requirement, None | Some(Requirement::Namespace(_)))
                            && !matches!(
                                routed,
                                Ok(Route::Fs(..) | Route::AllocStats(_) | Route::AllocGc(_))
                            ),
                        "200 without rights: {req:?} -> {response:?}"
                    );
                }
            }
            Action::SendFile(send) => {
                assert!(!no_rights, "file sent without rights: {req:?}");
                assert_eq!(send.alloc_id, ALLOC);
                check_clean_relative(&send.path);
                check_response(&send.vanished, secret_check);
                // What the host would copy.
                use caravan_core::host::Host as _;
                let length = send.limit.unwrap_or(u64::from(u32::MAX)).min(1 << 20) as u32;
                if let Ok(bytes) = host.read_at(&send.alloc_id, &send.path, send.offset, length)
                    && secret_check
                {
                    assert!(!contains(&bytes, CANARY), "secret sent: {req:?}");
                }
            }
            Action::Stream(mut start) => {
                assert!(!no_rights, "stream without rights: {req:?}");
                check_status(start.status);
                let steps = spec.pulls.iter().take(8).map(|&ms| u64::from(ms));
                pull(&host, &mut start.body, framing, secret_check, steps, |i| {
                    if i % 2 == 0 {
                        host.append("alloc/logs/web.stdout.0", b"more\n");
                    }
                });
            }
            Action::Forward(to) => {
                assert!(!no_rights, "forwarded without rights: {req:?}");
                check_response(&to.unreachable, secret_check);
            }
            Action::Exec(exec) => {
                assert!(!no_rights, "exec without rights: {req:?}");
                assert!(!exec.command.is_empty(), "exec of nothing: {req:?}");
                check_response(&exec.not_running, secret_check);
            }
        }
    }
});
