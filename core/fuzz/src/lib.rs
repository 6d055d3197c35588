//! What the fuzz targets share: a fake host with a secret canary, structured inputs built
//! from a dictionary of real routes and parameters, and the invariants every answer keeps.

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use caravan_core::fake::{ALLOC, Fake, NODE};
use caravan_core::fs::stream::{Step, Stream};
use caravan_core::host::{ClientStatus, Host, Roles, Token};
use caravan_core::http::{Action, Request, Response};
use serde_json::Value;

/// The content of a file in the task's `secrets/` directory: no answer may contain it.
pub const CANARY: &[u8] = b"CANARY-c4r4v4n-s3cr3t";
pub const SECRET_PATH: &str = "web/secrets/token";

pub const MANAGEMENT_SECRET: &str = "mgmt-secret";
pub const USER_SECRET: &str = "user-secret";

/// Words that make real routes, parameters and values: arbitrary picks them by index, so
/// the fuzzer reaches handlers instead of the 404 fallthrough.
pub const WORDS: &[&str] = &[
    "/v1/client/fs/ls/",
    "/v1/client/fs/stat/",
    "/v1/client/fs/readat/",
    "/v1/client/fs/cat/",
    "/v1/client/fs/stream/",
    "/v1/client/fs/logs/",
    "/v1/client/fs",
    "/v1/client/allocation/",
    "/stats",
    "/gc",
    "/restart",
    "/signal",
    "/exec",
    "/checks",
    "/v1/client/metadata",
    "/v1/client/stats",
    "/v1/client/gc",
    "/v1/acl/token/self",
    "/v1/acl/bootstrap",
    "/v1/internal/node/register",
    "/v1/nodes",
    "/v1/node/",
    "/v1/allocations",
    "/v1/allocation/",
    ALLOC,
    NODE,
    "/",
    "//",
    "..",
    ".",
    "%2F",
    "%2e%2e",
    "%",
    "%zz",
    "%00",
    "\\",
    "alloc/logs/web.stdout.0",
    "/alloc/logs/web.stdout.0",
    "alloc/logs/web.stderr.0",
    "alloc/logs",
    SECRET_PATH,
    "/web/secrets/token",
    "web/./secrets/token",
    "web//secrets/token",
    "alloc/../web/secrets/token",
    "../web/secrets/token",
    "web/secrets/../secrets/token",
    "alloc",
    "alloc/data/page.html",
    "alloc/data/conf.json",
    "alloc/data/empty",
    "alloc/data",
    "web",
    "",
    "true",
    "false",
    "True",
    "1",
    "0",
    "-1",
    "start",
    "end",
    "stdout",
    "stderr",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "default",
    "*",
    "path",
    "offset",
    "limit",
    "origin",
    "follow",
    "plain",
    "task",
    "type",
    "lines",
    "pretty",
    "node_id",
    "namespace",
    "region",
    "Meta",
    "NodeID",
];

/// A word from [`WORDS`] or any string.
#[derive(Debug, Clone, Arbitrary)]
pub enum Word {
    Known(u8),
    Raw(String),
}

impl Word {
    pub fn text(&self) -> String {
        match self {
            Word::Known(i) => WORDS[*i as usize % WORDS.len()].to_string(),
            Word::Raw(s) => s.clone(),
        }
    }
}

/// Percent-encode everything but unreserved characters (as a careful client would).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The allocation's state and files before the requests.
#[derive(Debug, Arbitrary)]
pub struct World {
    pub acl: Option<Vec<Word>>,
    /// With ACLs on: the first policy is also the `anonymous` policy.
    pub anonymous_policy: bool,
    pub status: u8,
    pub task_started: bool,
    pub server: bool,
    pub not_client: bool,
    pub files: Vec<(Word, Vec<u8>)>,
}

/// Policy texts that grant something, so ACL-on runs reach handlers.
pub const POLICIES: &[&str] = &[
    r#"namespace "default" { policy = "read" }"#,
    r#"namespace "default" { policy = "write" }"#,
    r#"namespace "*" { capabilities = ["read-fs", "read-logs"] }"#,
    r#"namespace "def*" { policy = "deny" }"#,
    r#"node { policy = "write" } agent { policy = "read" }"#,
    r#"node { policy = "read" }"#,
    r#"{"namespace":[{"default":{"capabilities":["read-job","alloc-lifecycle","submit-job"]}}]}"#,
    r#"namespace "default" { capabilities = ["deny"] }"#,
];

impl World {
    pub fn build(&self) -> Fake {
        let fake = Fake::default();
        fake.set(SECRET_PATH, CANARY);
        *fake.status.borrow_mut() = match self.status % 5 {
            0 => ClientStatus::Pending,
            1 => ClientStatus::Running,
            2 => ClientStatus::Complete,
            3 => ClientStatus::Failed,
            _ => ClientStatus::Lost,
        };
        *fake.task_started.borrow_mut() = self.task_started;
        *fake.roles.borrow_mut() = Roles {
            server: self.server,
            client: !self.not_client,
            ui: true,
        };
        for (path, data) in self.files.iter().take(8) {
            let path = path.text();
            // The canary stays the secret file's alone (content and name).
            if path.starts_with("web/secrets")
                || contains(data, CANARY)
                || contains(path.as_bytes(), CANARY)
            {
                continue;
            }
            fake.set(&path, data);
        }
        if let Some(policies) = &self.acl {
            *fake.acl_enabled.borrow_mut() = true;
            let mut names = Vec::new();
            for (i, word) in policies.iter().take(4).enumerate() {
                let text = match word {
                    Word::Known(k) => POLICIES[*k as usize % POLICIES.len()].to_string(),
                    Word::Raw(s) => s.clone(),
                };
                let name = if i == 0 && self.anonymous_policy {
                    "anonymous".to_string()
                } else {
                    format!("p{i}")
                };
                if let Ok(policy) = caravan_core::acl::compile(&name, &text) {
                    fake.policies.borrow_mut().push(policy);
                }
                names.push(name);
            }
            let token = |management, policies| Token {
                accessor_id: "accessor".into(),
                name: "t".into(),
                management,
                policies,
                ..Token::default()
            };
            fake.tokens
                .borrow_mut()
                .insert(MANAGEMENT_SECRET.into(), token(true, Vec::new()));
            fake.tokens
                .borrow_mut()
                .insert(USER_SECRET.into(), token(false, names));
        }
        fake
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Statuses the core may answer with (304: a UI file asked with its ETag).
pub fn check_status(status: u16) {
    assert!(
        matches!(
            status,
            200 | 204 | 301 | 304 | 307 | 400 | 403 | 404 | 405 | 409 | 500 | 501
        ),
        "unexpected status {status}"
    );
}

/// A complete response: valid status, headers without line breaks, a JSON body that
/// parses, no secret.
pub fn check_response(response: &Response, secret_check: bool) {
    check_status(response.status);
    for (name, value) in &response.headers {
        assert!(
            !name.is_empty() && !name.contains(['\r', '\n', ':']),
            "bad header name {name:?}"
        );
        assert!(!value.contains(['\r', '\n']), "bad header value {value:?}");
    }
    if response.header("content-type") == Some("application/json")
        && let Err(e) = serde_json::from_slice::<Value>(&response.body)
    {
        panic!(
            "JSON body does not parse ({e}): {:?}",
            String::from_utf8_lossy(&response.body)
        );
    }
    if secret_check {
        assert!(
            !contains(&response.body, CANARY),
            "secret in a response body"
        );
    }
}

/// A path the core hands the host: relative to the allocation directory and clean.
pub fn check_clean_relative(path: &str) {
    assert!(!path.starts_with('/'), "absolute path {path:?}");
    assert!(!path.contains('\0'), "NUL in {path:?}");
    if !path.is_empty() {
        for part in path.split('/') {
            assert!(
                !matches!(part, "" | "." | ".."),
                "unclean path {path:?} handed to the host"
            );
        }
    }
}

/// How a streamed body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Frames,
    Plain,
}

/// What a pull's data held.
pub struct Pulled {
    /// A mid-stream error text ended it.
    pub failed: bool,
}

/// Check one `Step::Data` chunk: with frames, a run of `StreamFrame` objects, optionally
/// followed by an error text (Nomad's mid-stream failure), each frame well formed.
pub fn check_chunk(data: &[u8], framing: Framing, secret_check: bool) -> Pulled {
    assert!(!data.is_empty(), "Step::Data with no bytes");
    if framing == Framing::Plain {
        if secret_check {
            assert!(!contains(data, CANARY), "secret in a plain stream");
        }
        return Pulled { failed: false };
    }
    let mut frames = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let mut end = 0;
    loop {
        match frames.next() {
            None => return Pulled { failed: false },
            Some(Ok(frame)) => {
                end = frames.byte_offset();
                check_frame(&frame, secret_check);
            }
            Some(Err(_)) => break,
        }
    }
    let rest = std::str::from_utf8(&data[end..]).expect("error text is UTF-8");
    assert!(
        rest.starts_with("failed to stream ")
            || rest.starts_with("Reading secret file prohibited: ")
            || rest.starts_with("Reading private file prohibited: "),
        "neither a frame nor an error text: {rest:?}"
    );
    assert!(
        !rest.contains("Io("),
        "Rust debug formatting sent: {rest:?}"
    );
    if secret_check {
        assert!(!contains(rest.as_bytes(), CANARY));
    }
    Pulled { failed: true }
}

fn check_frame(frame: &Value, secret_check: bool) {
    let Value::Object(map) = frame else {
        panic!("frame is not an object: {frame}");
    };
    for (key, value) in map {
        match key.as_str() {
            "Data" => {
                let text = value.as_str().expect("Data is a string");
                assert!(!text.is_empty(), "empty Data is omitted");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .expect("Data is base64");
                if secret_check {
                    assert!(!contains(&bytes, CANARY), "secret in a frame");
                }
            }
            "File" => assert!(value.as_str().is_some_and(|f| !f.is_empty())),
            "FileEvent" => assert!(
                matches!(value.as_str(), Some("file deleted" | "file truncated")),
                "FileEvent {value}"
            ),
            "Offset" => assert!(value.as_u64().is_some_and(|o| o > 0), "Offset {value}"),
            other => panic!("unknown frame key {other:?}"),
        }
    }
}

/// Pull a stream at most `pulls` times, `now_ms` advancing by the given steps; between
/// pulls `between` may change the files. Checks every chunk.
pub fn pull<W, L>(
    host: &impl Host<Watch = W, Listing = L>,
    stream: &mut Stream<W, L>,
    framing: Framing,
    secret_check: bool,
    steps: impl IntoIterator<Item = u64>,
    mut between: impl FnMut(usize),
) {
    let mut now_ms = 0u64;
    let mut ended = false;
    for (i, step) in steps.into_iter().enumerate() {
        now_ms = now_ms.saturating_add(step);
        match stream.next(host, now_ms) {
            Step::Data(data) => {
                assert!(!ended, "data after the end");
                if check_chunk(&data, framing, secret_check).failed {
                    ended = true;
                    assert_eq!(stream.next(host, now_ms), Step::End, "data after an error");
                }
            }
            Step::Wait(ms) => {
                assert!(!ended, "wait after the end");
                assert!((1..=1000).contains(&ms), "wait {ms} ms");
            }
            Step::End => ended = true,
        }
        between(i);
    }
}

/// The framing of a streamed answer to `req`, from its route and content type.
pub fn framing<B>(action: &Action<B>) -> Framing {
    match action {
        Action::Stream(start) => {
            let plain = start
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == "text/plain");
            if plain {
                Framing::Plain
            } else {
                Framing::Frames
            }
        }
        _ => Framing::Frames,
    }
}

/// Whether any part of a request names the canary (it could then be echoed legitimately).
pub fn mentions_canary(req: &Request) -> bool {
    let canary = std::str::from_utf8(CANARY).unwrap();
    contains(&req.body, CANARY)
        || req.path.contains(canary)
        || req.query.contains(canary)
        || req
            .headers
            .iter()
            .any(|(n, v)| n.contains(canary) || v.contains(canary))
}

/// Take a bounded list from the rest of the input.
pub fn bounded<'a, T: Arbitrary<'a>>(
    u: &mut Unstructured<'a>,
    max: usize,
) -> arbitrary::Result<Vec<T>> {
    let mut out = Vec::new();
    while out.len() < max && u.arbitrary::<bool>()? {
        out.push(u.arbitrary()?);
    }
    Ok(out)
}
