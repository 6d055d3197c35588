//! `caravan job logs`: the logs of every allocation of a job, merged by arrival time, from
//! a client (its own allocations) or a server (every node's), through
//! `GET /v1/job/:job_id/logs`. Each line is prefixed with its allocation's short id and its
//! task, coloured per allocation on a terminal; allocations that appear or go are told on
//! stderr, and never end the command.

use std::io::{IsTerminal, Write};

use anyhow::Result;

use super::api::{Api, encode, with_query, write_json_line};
use super::flags::WrongArguments;
use super::flags::{Flag, Kind, Parsed};
use super::frames::Frame;
use super::output;
use super::{Command, Usage};

/// `caravan job logs`: usage, help and flags.
pub const LOGS: Usage = Usage {
    usage: "caravan job logs [options] <job>",
    about: "Print the logs of every allocation of a job, on every node the agent knows (a\n\
            server: all of them; a client: its own), merged by arrival time. Each line is\n\
            prefixed with its allocation's short id and its task (coloured per allocation\n\
            on a terminal). Allocations that appear while following are added; those\n\
            collected, or on a node that goes away, are reported on stderr and dropped.",
    flags: &[
        Flag {
            name: "f",
            kind: Kind::Bool,
            help: "Follow: print new lines as they are written, until Ctrl-C (exit 0)",
        },
        Flag {
            name: "task",
            kind: Kind::Value("name"),
            help: "Only this task's logs (default: every task)",
        },
        Flag {
            name: "type",
            kind: Kind::Value("stdout|stderr|all"),
            help: "Which logs (default all; stderr lines are marked (stderr))",
        },
        Flag {
            name: "since",
            kind: Kind::Value("time"),
            help: "Only lines written since this RFC 3339 time or duration ago (10m)",
        },
        Flag {
            name: "timestamps",
            kind: Kind::Bool,
            help: "Prefix each line with when it was written (RFC 3339, UTC)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the agent's frames, one JSON object a line (Data in base64)",
        },
    ],
};

/// `caravan job logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogs {
    /// The job id.
    pub job: String,
    /// `-f`: follow until Ctrl-C.
    pub follow: bool,
    /// `-task`: only this task's logs.
    pub task: Option<String>,
    /// `-type`: `stdout`, `stderr` or `all`.
    pub kind: String,
    /// `-since`: only lines that arrived since then.
    pub since: Option<String>,
    /// `-timestamps`: each line prefixed with its arrival time.
    pub timestamps: bool,
    /// `-json`: frames as JSON lines.
    pub json: bool,
}

/// `job logs`'s command.
pub fn build_logs(parsed: &Parsed) -> Result<Command> {
    let [job] = parsed.free() else {
        return Err(WrongArguments.into());
    };
    let kind = parsed.value("type").unwrap_or_else(|| "all".into());
    if !matches!(kind.as_str(), "stdout" | "stderr" | "all") {
        anyhow::bail!("-type must be stdout, stderr or all, not {kind:?}");
    }
    Ok(Command::Job(JobLogs {
        job: job.clone(),
        follow: parsed.bool("f")?,
        task: parsed.value("task").filter(|t| !t.is_empty()),
        kind,
        since: parsed.value("since").filter(|s| !s.is_empty()),
        timestamps: parsed.bool("timestamps")?,
        json: parsed.bool("json")?,
    }))
}

impl JobLogs {
    /// The request: the agent's namespace (default `default`, as Nomad's job commands).
    pub fn path(&self, namespace: Option<&str>) -> String {
        let mut query = vec![
            ("namespace", namespace.unwrap_or("default").to_string()),
            ("type", self.kind.clone()),
        ];
        if self.follow {
            query.push(("follow", "true".into()));
        }
        if let Some(task) = &self.task {
            query.push(("task", task.clone()));
        }
        if let Some(since) = &self.since {
            query.push(("since", since.clone()));
        }
        with_query(&format!("/v1/job/{}/logs", encode(&self.job)), &query)
    }
}

/// Print a job's logs until they end (or, following, until Ctrl-C).
pub fn run(logs: JobLogs, target: &super::Target) -> Result<()> {
    let api = Api::new(target)?;
    let path = logs.path(api.agent().namespace.as_deref());
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let printer = Printer {
        both: logs.kind == "all",
        timestamps: logs.timestamps,
        colour,
    };
    let json = logs.json;
    api.frames(&path, move |frame| {
        let mut out = std::io::stdout().lock();
        if json {
            return write_json_line(&mut out, &frame);
        }
        if frame.file_event.is_some() {
            let _ = std::io::stderr().write_all(printer.event(&frame).as_bytes());
            return Ok(true);
        }
        Ok(output::emit(&mut out, &printer.line(&frame)?)?)
    })
}

/// How lines are shown.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// Both stdout and stderr are shown: stderr lines are marked.
    pub both: bool,
    /// Each line prefixed with its arrival time.
    pub timestamps: bool,
    /// Colour per allocation (a terminal, and no `NO_COLOR`).
    pub colour: bool,
}

/// Foreground colours that read on dark and light terminals alike.
const COLOURS: [u8; 6] = [32, 33, 34, 35, 36, 31];

impl Printer {
    /// A line's text with its prefix, ending in a newline.
    pub fn line(&self, frame: &Frame) -> Result<Vec<u8>> {
        let data = frame.bytes()?;
        let mut out = Vec::with_capacity(data.len() + 48);
        if self.timestamps
            && let Some(time) = frame.time
        {
            out.extend_from_slice(caravan_core::wire::timefmt::rfc3339_fixed(time).as_bytes());
            out.push(b' ');
        }
        let alloc = frame.alloc.as_deref().unwrap_or("");
        let mut prefix = format!(
            "{} {}",
            output::short(alloc, false),
            frame.task.as_deref().unwrap_or("")
        );
        if self.both && frame.kind.as_deref() == Some("stderr") {
            prefix.push_str(" (stderr)");
        }
        if self.colour {
            prefix = format!("\x1b[{}m{prefix}\x1b[0m", colour_of(alloc));
        }
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&data);
        if !data.ends_with(b"\n") {
            out.push(b'\n');
        }
        Ok(out)
    }

    /// An allocation that appeared or went, for stderr.
    pub fn event(&self, frame: &Frame) -> String {
        let alloc = output::short(frame.alloc.as_deref().unwrap_or(""), false);
        let event = frame.file_event.as_deref().unwrap_or("");
        match frame.message.as_deref() {
            Some(message) => format!("==> {event} {alloc}: {message}\n"),
            None => format!("==> {event} {alloc}\n"),
        }
    }
}

/// The same colour for an allocation every time (FNV-1a of its id).
fn colour_of(alloc: &str) -> u8 {
    let hash = alloc.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    COLOURS[hash as usize % COLOURS.len()]
}

#[cfg(test)]
mod tests;
