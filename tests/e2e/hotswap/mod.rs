//! Hot swap: swaps under load lose nothing, every kind of bad candidate is turned away
//! with the old core still serving, each trigger works, the compiled cache is used and
//! guarded, and a faulty core harms only its own requests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::support::{Agent, Reply};

mod cache;
mod candidates;
mod load;
mod triggers;

pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `core` with a custom section appended (id 0, LEB128 size, name, payload): a valid
/// component that behaves the same, with other bytes and so another SHA-256.
pub(crate) fn variant(core: &[u8], name: &str) -> Vec<u8> {
    let mut section = Vec::new();
    leb128(&mut section, name.len());
    section.extend_from_slice(name.as_bytes());
    section.extend_from_slice(b"a caravan test variant");
    let mut bytes = core.to_vec();
    bytes.push(0);
    leb128(&mut bytes, section.len());
    bytes.extend_from_slice(&section);
    bytes
}

/// The default core reporting another version: the version string is patched in its data
/// segment (same length, so the component stays valid and behaves the same otherwise).
/// Responses then tell by their `x-caravan-core` header which core served them.
fn renamed(core: &[u8], version: &str) -> Vec<u8> {
    let current = b"caravan-core/0.1.0";
    assert_eq!(version.len(), current.len());
    let at: Vec<usize> = core
        .windows(current.len())
        .enumerate()
        .filter(|(_, w)| w == current)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the core's version string is not where this test expects"
    );
    let mut bytes = core.to_vec();
    bytes[at[0]..at[0] + current.len()].copy_from_slice(version.as_bytes());
    bytes
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn status(agent: &Agent) -> serde_json::Value {
    let reply = agent.get("/v1/agent/core");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn serving(agent: &Agent) -> String {
    status(agent)["SHA256"].as_str().unwrap().to_string()
}

/// `LoadedAt` (RFC 3339 in UTC, as the agent writes it) as a point in time.
fn loaded_at(status: &serde_json::Value) -> SystemTime {
    let text = status["LoadedAt"].as_str().unwrap();
    let number = |range: std::ops::Range<usize>| -> i64 { text[range].parse().unwrap() };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let seconds_of_day = number(11..13) * 3600 + number(14..16) * 60 + number(17..19);
    let fraction = text[19..text.len() - 1].trim_start_matches('.');
    let nanos = format!("{fraction:0<9}").parse::<u32>().unwrap();
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    UNIX_EPOCH + Duration::new((days * 86_400 + seconds_of_day) as u64, nanos)
}

fn put_core(agent: &Agent, bytes: &[u8]) -> Reply {
    agent.request("PUT", "/v1/agent/core", &[], bytes)
}

/// Write beside `path`, then rename over it, as deployment tools do.
fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn caravan(args: &[&str], nomad_addr: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caravan"));
    command.args(args);
    if let Some(addr) = nomad_addr {
        command.env("NOMAD_ADDR", addr);
    }
    command.output().unwrap()
}

/// An agent serving its core from a file it watches.
struct Watched {
    agent: Agent,
    core_file: PathBuf,
    temp: tempfile::TempDir,
}

fn start_watched(core: &[u8], extra: &[&str]) -> Watched {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("cores");
    std::fs::create_dir(&dir).unwrap();
    let core_file = dir.join("core.wasm");
    std::fs::write(&core_file, core).unwrap();
    let mut flags = vec![format!("-core={}", core_file.display())];
    flags.extend(extra.iter().map(|f| f.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let agent = Agent::start_in(&temp.path().join("data"), &flags);
    Watched {
        agent,
        core_file,
        temp,
    }
}
