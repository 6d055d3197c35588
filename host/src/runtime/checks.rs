//! The checks a candidate core passes before it may serve: a readable header, and a
//! self-check of read-only requests whose answers every caravan core must give.

use super::MAX_CORE_SIZE;
use crate::wit::{handler, types};

/// Requests with known answers, each answered by `handle` (the sandbox runs each in a
/// fresh store under the call deadline, over a scratch context with ACLs off on a client,
/// so every answer is the core's alone, whatever the agent's configuration). They read
/// state but never change it.
pub(super) fn self_check(
    handle: impl Fn(&types::Request) -> anyhow::Result<handler::Action>,
) -> Result<(), String> {
    for probe in SELF_CHECK {
        let request = types::Request {
            method: "GET".into(),
            path: probe.path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let failed = |why: String| format!("failed the self-check: GET {}: {why}", probe.path);
        let action = handle(&request).map_err(|err| failed(format!("{err:#}")))?;
        let handler::Action::Respond(response) = action else {
            return Err(failed(
                "answered with something other than a response".into(),
            ));
        };
        (probe.expect)(&response).map_err(|expected| {
            failed(format!(
                "expected {expected}, got {} {:?}",
                response.status,
                abbreviate(&response.body)
            ))
        })?;
    }
    Ok(())
}

/// One request of the self-check and what a correct core answers (Nomad's behaviour, which
/// every caravan core keeps). `expect` returns what was expected when the answer is wrong.
struct Probe {
    path: &'static str,
    expect: fn(&types::Response) -> Result<(), &'static str>,
}

const SELF_CHECK: [Probe; 3] = [
    Probe {
        path: "/v1/caravan/self-check/unknown-route",
        expect: |r| match (r.status, r.body.is_empty()) {
            (404, true) => Ok(()),
            _ => Err("404 with an empty body"),
        },
    },
    Probe {
        path: "/v1/client/fs/ls/",
        expect: |r| match (r.status, r.body.as_slice()) {
            (400, b"must provide a valid alloc id") => Ok(()),
            _ => Err("400 \"must provide a valid alloc id\""),
        },
    },
    Probe {
        path: "/v1/client/metadata",
        expect: |r| {
            let body: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let has = |key: &str| body.as_ref().is_some_and(|b| b[key].is_object());
            if r.status == 200 && has("Meta") && has("Static") && has("Dynamic") {
                Ok(())
            } else {
                Err("200 with a JSON object holding Meta, Static and Dynamic")
            }
        },
    },
];

/// The first bytes of a body, enough to recognise it in a rejection message.
fn abbreviate(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// Name the two most common wrong inputs plainly, before the compiler's messages.
pub(super) fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() > MAX_CORE_SIZE {
        return Err(format!(
            "the component is larger than {} MiB",
            MAX_CORE_SIZE >> 20
        ));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not WebAssembly (no \\0asm header)".into());
    }
    // A component's header has layer 1 in bytes 6..8; a core module's has 0.
    if bytes[6..8] == [0, 0] {
        return Err(
            "a core wasm module, not a component: componentize it for the caravan:client world"
                .into(),
        );
    }
    Ok(())
}
