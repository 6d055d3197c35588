//! The web UI under `/ui/`: static files embedded in the core (`core/ui/`), served with a
//! strict Content-Security-Policy.
//!
//! The UI lives in the core so that it is routed like every other path and swapped with the
//! core: the host serves nothing of its own. Its pages call the agent's API like any client
//! (the token travels as `X-Nomad-Token`); the assets themselves are public, as Nomad's are.
//! `cluster.roles().ui` carries the agent configuration's `ui { enabled }`.

use crate::host::Host;
use crate::http::{ApiError, ApiResult, Request, Response};

/// Scripts, styles, images and connections from this origin only; no inline script or style,
/// no plugins, no framing, no `<base>`, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer under `/ui/` when the UI is turned off.
pub const DISABLED: &str = "the web UI is disabled (ui { enabled = false })";

/// One embedded file: its name under `/ui/`, its media type, its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

/// Every file of the UI. `/ui/` is `index.html`; the page routes with the URL's fragment,
/// so no other path needs it.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("allocs.js", JS),
    asset!("files.js", JS),
    asset!("logs.js", JS),
    asset!("joblogs.js", JS),
    asset!("logpane.js", JS),
    asset!("chart.js", JS),
    asset!("node.js", JS),
    asset!("metadata.js", JS),
    asset!("session.js", JS),
];

/// Answer `path` (`/`, `/ui` or under `/ui/`, already cleaned).
pub fn serve(host: &impl Host, req: &Request, path: &str) -> ApiResult<Response> {
    if path == "/" {
        return Ok(to_the_ui(req));
    }
    if !host.roles().ui {
        return Err(ApiError::not_found(DISABLED));
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Err(ApiError::invalid_method());
    }
    let Some(name) = path.strip_prefix("/ui/") else {
        // `/ui`: where Go's ServeMux would send it.
        return Ok(Response {
            status: 301,
            headers: vec![("Location".into(), "/ui/".into())],
            body: Vec::new(),
        });
    };
    let (name, cache) = match name.split_once('/') {
        // `/ui/<version>/<file>`: the name the page uses, changed with any file's content.
        Some((v, file)) if v == version() => (file, IMMUTABLE),
        Some(_) => return Err(ApiError::not_found("")),
        None => (name, REVALIDATE),
    };
    let name = if name.is_empty() { "index.html" } else { name };
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found(""))?;
    let body = if asset.name == "index.html" {
        versioned_index(asset.body)
    } else {
        asset.body.to_vec()
    };
    let etag = format!("\"{:016x}\"", fnv1a(&[&body]));
    let mut headers = headers(asset.content_type, cache);
    headers.push(("ETag".into(), etag.clone()));
    if req
        .header("if-none-match")
        .is_some_and(|tags| matches_etag(tags, &etag))
    {
        return Ok(Response {
            status: 304,
            headers,
            body: Vec::new(),
        });
    }
    Ok(Response {
        status: 200,
        headers,
        body,
    })
}

/// The page revalidates every time (a swapped core brings its own UI); `ETag` makes that a 304.
const REVALIDATE: &str = "no-cache";
/// A versioned file never changes under its name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The UI's version: a hash of every file, so that a swapped core's UI has new names.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let parts: Vec<&[u8]> = ASSETS
            .iter()
            .flat_map(|a| [a.name.as_bytes(), a.body])
            .collect();
        format!("{:012x}", fnv1a(&parts) >> 16)
    })
}

/// `index.html` naming the versioned files: `"/ui/app.js"` becomes `"/ui/<version>/app.js"`
/// (and the modules' `./x.js` imports follow, being relative).
fn versioned_index(body: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(body)
        .replace("=\"/ui/", &format!("=\"/ui/{}/", version()))
        .into_bytes()
}

/// FNV-1a (64 bits) over the parts in turn: a cheap content hash, not a security boundary.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `If-None-Match`: `*` or a list of tags, weak ones (`W/`) compared weakly, as RFC 9110 says.
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `/`: Nomad's root fallthrough, a 307 to `/ui/` with the query kept, for any method and
/// whether the UI is on or not (`/ui/` then says it is off). Go's `http.Redirect` words it:
/// a short HTML body for `GET`, the type alone for `HEAD`.
fn to_the_ui(req: &Request) -> Response {
    let mut location = String::from("/ui/");
    if !req.query.is_empty() {
        location.push('?');
        // Go's `hexEscapeNonASCII`: a header value stays ASCII. Control bytes too: an HTTP
        // parser never passes them, but the core trusts no host to have one.
        for byte in req.query.bytes() {
            if byte.is_ascii() && !byte.is_ascii_control() {
                location.push(byte as char);
            } else {
                location.push_str(&format!("%{byte:02x}"));
            }
        }
    }
    let mut headers = vec![("Location".to_string(), location.clone())];
    let mut body = Vec::new();
    if req.method == "GET" || req.method == "HEAD" {
        headers.push(("Content-Type".into(), HTML.into()));
    }
    if req.method == "GET" {
        body = format!(
            "<a href=\"{}\">Temporary Redirect</a>.\n\n",
            html_escape(&location)
        )
        .into_bytes();
    }
    Response {
        status: 307,
        headers,
        body,
    }
}

/// Go's `htmlEscape` (the five characters `html.EscapeString` replaces).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn headers(content_type: &str, cache: &str) -> Vec<(String, String)> {
    [
        ("Content-Type", content_type),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cache-Control", cache),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests;
