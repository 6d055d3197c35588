//! `/v1/client/fs/{ls,stat,cat,readat}`: parameters, errors and bodies.
//!
//! Paths are cleaned here and handed to the host relative to the allocation directory;
//! the host enforces containment again when it opens, so a lexical check here is only
//! the first of two fences. Messages name paths relative to the allocation directory,
//! never the host's absolute paths (Nomad leaks those).

pub mod job_logs;
pub mod listing;
pub mod log_files;
pub mod logs;
pub mod logtime;
pub mod params;
pub mod stream;

use serde_json::{Value, json};

use crate::acl::access::Access;
use crate::fs::listing::{ListingBody, PAGE};
use crate::fs::stream::{Source, Stream};
use crate::host::{FileInfo, FsError, Host};
use crate::http::{Action, ApiError, ApiResult, Response, SendFile, StreamStart, pretty};
use crate::wire::filemode::{go_file_mode, is_dir};
use crate::wire::params::{Query, go_quote};
use crate::wire::sniff::detect_content_type;

/// How many bytes Go's sniffer looks at.
const SNIFF_LEN: u32 = 512;

/// `ls`: the entries of a directory (default `/`), sorted by name, as `lstat` sees them.
/// A directory larger than one page is answered as a streamed body, a page at a time
/// (`listing.rs`), so its size never has to fit in the core's memory.
pub fn ls<H: Host>(
    host: &H,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    let given = query.get("path").filter(|p| !p.is_empty()).unwrap_or("/");
    access.allocation(host, alloc_id)?;
    let path = alloc_relative(given)?;
    let failed = |e| fs_error(e, "open", &path, given);
    let listing = host.list(alloc_id, &path).map_err(failed)?;
    let first = host.list_next(&listing, PAGE).map_err(failed)?;
    if first.len() < PAGE as usize {
        let body: Vec<Value> = first.iter().map(|info| file_info(info, None)).collect();
        return Ok(Action::Respond(Response::json(&Value::Array(body), query)));
    }
    // Nomad's headers for a listing: it is a finished answer sent in parts, not a live stream
    // (so not `StreamStart::ok`, whose headers keep proxies from holding a stream back).
    Ok(Action::Stream(StreamStart {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Stream::Listing(ListingBody::new(listing, first, pretty(query), |info| {
            file_info(info, None)
        })),
    }))
}

/// `stat`: one path, symlinks followed, with a sniffed content type.
pub fn stat(
    host: &impl Host,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Response> {
    let given = required_path(query)?;
    access.allocation(host, alloc_id)?;
    let path = alloc_relative(given)?;
    let mut info = host
        .stat(alloc_id, &path)
        .map_err(|e| fs_error(e, "stat", &path, given))?;
    if path.is_empty() {
        info.name = alloc_id.to_string();
    }
    let content_type = stat_content_type(host, alloc_id, &path, &info);
    Ok(Response::json(&file_info(&info, Some(content_type)), query))
}

/// Nomad's `detectContentType`: sniff the first bytes of a readable file, then let a
/// `.json` suffix win. Files the host will not read (secrets, FIFOs) are not sniffed.
fn stat_content_type(
    host: &impl Host,
    alloc_id: &str,
    path: &str,
    info: &FileInfo,
) -> &'static str {
    let mut content_type = "application/octet-stream";
    if !is_dir(info.mode)
        && let Ok(head) = host.read_at(alloc_id, path, 0, SNIFF_LEN)
        && !head.is_empty()
    {
        content_type = detect_content_type(&head);
    }
    if path.ends_with(".json") {
        content_type = "application/json";
    }
    content_type
}

/// `cat`: the whole file.
pub fn cat<H: Host>(
    host: &H,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    let given = required_path(query)?;
    access.allocation(host, alloc_id)?;
    let path = alloc_relative(given)?;
    send_file(host, alloc_id, path, given, 0, None)
}

/// `readat`: `limit` bytes (or the rest, when `limit <= 0`) from `offset`.
pub fn readat<H: Host>(
    host: &H,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    let given = required_path(query)?;
    // Nomad parses readat's offset without an empty check: it is required.
    let offset = params::int_param(query.get("offset").unwrap_or(""), "offset")?;
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        None => 0,
        Some(limit) => params::int_param(limit, "limit")?,
    };
    access.allocation(host, alloc_id)?;
    let path = alloc_relative(given)?;
    let offset = seek_offset(offset)?;
    let limit = u64::try_from(limit).ok().filter(|l| *l > 0);
    send_file(host, alloc_id, path, given, offset, limit)
}

/// `stream`: frames of one file from `offset` (or from the end with `origin=end`), following
/// it by default.
pub fn stream<H: Host>(
    host: &H,
    access: &Access,
    alloc_id: &str,
    query: &Query,
) -> ApiResult<Action<Stream<H::Watch, H::Listing>>> {
    let given = required_path(query)?;
    let follow = params::flag(query, "follow", true)?;
    let offset = params::offset(query)?;
    let origin_end = params::origin_is_end(query)?;
    access.allocation(host, alloc_id)?;
    let path = alloc_relative(given)?;
    let info = host
        .stat(alloc_id, &path)
        .map_err(|e| fs_error(e, "stat", &path, given))?;
    if is_dir(info.mode) {
        return Err(ApiError::bad_request(format!(
            "file {} is a directory",
            go_quote(given)
        )));
    }
    // Refusals (secrets, FIFOs) come before the first byte, not inside the body.
    host.read_at(alloc_id, &path, 0, 0)
        .map_err(|e| fs_error(e, "stat", &path, given))?;
    let size = i64::try_from(info.size).unwrap_or(i64::MAX);
    let start = if origin_end {
        size.saturating_sub(offset).max(0)
    } else {
        offset
    };
    let start = seek_offset(start)?;
    let source = Source::File {
        path,
        shown: given.to_string(),
        inode: info.inode,
    };
    // Nomad sets no type here and Go sniffs the first frame as text.
    Ok(Action::Stream(StreamStart::ok(
        "text/plain; charset=utf-8",
        Stream::new(alloc_id.to_string(), source, start, follow, false),
    )))
}

/// Validate and sniff through the host, then let the host copy the bytes itself.
fn send_file<B>(
    host: &impl Host,
    alloc_id: &str,
    path: String,
    given: &str,
    offset: u64,
    limit: Option<u64>,
) -> ApiResult<Action<B>> {
    let sniff_len = limit.map_or(SNIFF_LEN, |l| l.min(u64::from(SNIFF_LEN)) as u32);
    let head = host
        .read_at(alloc_id, &path, offset, sniff_len)
        .map_err(|e| fs_error(e, "stat", &path, given))?;
    if head.is_empty() {
        // Nomad sends an empty 200 sniffed as text, without the untrusted-content headers.
        return Ok(Action::Respond(Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: Vec::new(),
        }));
    }
    Ok(Action::SendFile(SendFile {
        alloc_id: alloc_id.to_string(),
        // Removed or replaced between this check and the host's open.
        vanished: fs_error(FsError::NotFound, "open", &path, given).into_response(),
        path,
        offset,
        limit,
        headers: untrusted_content_headers(detect_content_type(&head)),
    }))
}

/// Nomad's `noxssrw` wrapper: never let a browser render file content as HTML.
fn untrusted_content_headers(sniffed: &str) -> Vec<(String, String)> {
    let content_type = if ["text/html", "text/xhtml", "text/xhtml+xml"]
        .iter()
        .any(|html| sniffed.starts_with(html))
    {
        "text/plain"
    } else {
        sniffed
    };
    vec![
        ("Content-Type".into(), content_type.into()),
        (
            "Content-Security-Policy".into(),
            "default-src 'none'; style-src 'unsafe-inline'; sandbox".into(),
        ),
        ("X-Content-Type-Options".into(), "nosniff".into()),
        ("X-XSS-Protection".into(), "1; mode=block".into()),
    ]
}

/// A starting offset, refused when negative as Go's `Seek` refuses it.
fn seek_offset(offset: i64) -> ApiResult<u64> {
    u64::try_from(offset).map_err(|_| {
        ApiError::bad_request(format!("can't seek to offset {offset}: invalid argument"))
    })
}

fn required_path(query: &Query) -> ApiResult<&str> {
    query
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("must provide a file name"))
}

/// Clean a request path relative to the allocation directory (`""` is its root).
/// `..` that would climb out of it is refused here, before the host is asked.
pub fn alloc_relative(given: &str) -> ApiResult<String> {
    if given.contains('\0') {
        return Err(ApiError::bad_request("invalid path: contains a NUL byte"));
    }
    // Linux's limits; refusing here makes them a clear 400 rather than a host error.
    if given.len() > 4096 {
        return Err(ApiError::bad_request(
            "invalid path: longer than 4096 bytes",
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in given.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(escapes());
                }
            }
            _ if part.len() > 255 => {
                return Err(ApiError::bad_request(
                    "invalid path: a name is longer than 255 bytes",
                ));
            }
            _ => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn escapes() -> ApiError {
    ApiError::bad_request("Path escapes the alloc directory")
}

/// One place that turns a host filesystem error into Nomad's status and text.
fn fs_error(err: FsError, op: &str, path: &str, given: &str) -> ApiError {
    let shown = if path.is_empty() { "/" } else { path };
    match err {
        FsError::NotFound => {
            ApiError::not_found(format!("{op} {shown}: no such file or directory"))
        }
        FsError::NotADirectory => ApiError::bad_request(format!("{op} {shown}: not a directory")),
        FsError::IsADirectory => {
            ApiError::bad_request(format!("file {} is a directory", go_quote(given)))
        }
        FsError::EscapesAllocDir => escapes(),
        FsError::SecretFile => {
            ApiError::forbidden(format!("Reading secret file prohibited: {given}"))
        }
        FsError::PrivateFile => {
            ApiError::forbidden(format!("Reading private file prohibited: {given}"))
        }
        FsError::NotRegularFile => {
            ApiError::bad_request(format!("file {} is not a regular file", go_quote(given)))
        }
        FsError::Io(message) => ApiError::internal(message),
    }
}

/// An `AllocFileInfo` object; `ContentType` only for `stat` (omitempty in Nomad).
fn file_info(info: &FileInfo, content_type: Option<&str>) -> Value {
    let mut value = json!({
        "FileMode": go_file_mode(info.mode),
        "IsDir": is_dir(info.mode),
        "ModTime": info.modified.rfc3339_nano(),
        "Name": info.name,
        "Size": info.size,
    });
    if let (Some(content_type), Value::Object(map)) = (content_type, &mut value) {
        map.insert("ContentType".into(), content_type.into());
    }
    value
}

#[cfg(test)]
mod tests;
