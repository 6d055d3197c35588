//! `caravan alloc logs|fs|status|gc|restart|signal`: Nomad's `nomad alloc …` commands against the agent at
//! `NOMAD_ADDR`, allocation ids by unique prefix.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::Command;
pub use super::alloc_flags::{FS, GC, LOGS, RESTART, SIGNAL, STATUS};
use super::alloc_status::format_status;
use super::api::{self, Api, FrameSink, encode, pick_task, with_query};
use super::flags::Parsed;
use super::flags::WrongArguments;
use super::output;

/// A parsed `caravan alloc …` command.
#[derive(Debug, PartialEq, Eq)]
pub enum Alloc {
    /// `alloc logs`.
    Logs(Logs),
    /// `alloc fs`.
    Fs(Fs),
    /// `alloc status`.
    Status(Status),
    /// `alloc gc ALLOC`: the allocation's id.
    Gc(String),
    /// `alloc restart`.
    Restart(Lifecycle),
    /// `alloc signal`.
    Signal(Lifecycle),
    /// `alloc exec`: run by [`super::exec::run`], which has an exit code of its own.
    Exec(super::exec::Exec),
}

/// `alloc restart` and `alloc signal`: which allocation, which task (all when none).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// The allocation id (or a unique prefix).
    pub alloc: String,
    /// `-task`; `None` with `all_tasks` or a one-task allocation.
    pub task: Option<String>,
    /// `restart -all-tasks`: dead tasks too, in Nomad; caravan restarts the running ones.
    pub all_tasks: bool,
    /// `signal -s`.
    pub signal: String,
}

/// A parsed `alloc logs`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Logs {
    /// The allocation id (or a unique prefix).
    pub alloc: String,
    /// The task; may be left out when the allocation has one.
    pub task: Option<String>,
    /// `-f`: follow until Ctrl-C.
    pub follow: bool,
    /// Show stdout.
    pub stdout: bool,
    /// Show stderr (`-stderr`).
    pub stderr: bool,
    /// `-tail`: from the end (also implied by `-n` and `-c`).
    pub tail: bool,
    /// `-n`: that many lines.
    pub lines: Option<u64>,
    /// `-c`: that many bytes.
    pub bytes: Option<u64>,
    /// `-since` (caravan's own): only lines that arrived since then.
    pub since: Option<String>,
    /// `-timestamps` (caravan's own): each line prefixed with its arrival time.
    pub timestamps: bool,
    /// `-json`: frames as JSON lines.
    pub json: bool,
}

/// A parsed `alloc fs`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fs {
    /// The allocation id (or a unique prefix).
    pub alloc: String,
    /// The path in the allocation directory (its root when empty).
    pub path: String,
    /// `-stat`: the path's metadata, not its content.
    pub stat: bool,
    /// `-f`: follow a file until Ctrl-C.
    pub follow: bool,
    /// `-json`: print the agent's answer as it is.
    pub json: bool,
    /// `-H`: sizes in bytes (machine-friendly).
    pub machine: bool,
}

/// A parsed `alloc status`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The allocation id (or a unique prefix).
    pub alloc: String,
    /// `-stats`: with its resource usage.
    pub stats: bool,
    /// `-json`: print the agent's answer as it is.
    pub json: bool,
    /// `-verbose`: full ids.
    pub verbose: bool,
}

/// `alloc exec`'s command.
pub fn build_exec(parsed: &Parsed) -> Result<Command> {
    Ok(Command::Alloc(Alloc::Exec(super::exec::parse(parsed)?)))
}

/// `alloc logs`'s command.
pub fn build_logs(parsed: &Parsed) -> Result<Command> {
    let (alloc, task) = alloc_and_task(parsed)?;
    let lines = number(parsed, "n")?;
    let bytes = number(parsed, "c")?;
    Ok(Command::Alloc(Alloc::Logs(Logs {
        alloc,
        task,
        follow: parsed.bool("f")?,
        stdout: parsed.bool("stdout")?,
        stderr: parsed.bool("stderr")?,
        tail: parsed.bool("tail")? || lines.is_some() || bytes.is_some(),
        lines,
        bytes,
        since: parsed.value("since"),
        timestamps: parsed.bool("timestamps")?,
        json: parsed.bool("json")?,
    })))
}

/// `alloc fs`'s command.
pub fn build_fs(parsed: &Parsed) -> Result<Command> {
    let (alloc, path) = match parsed.free() {
        [alloc] => (alloc.clone(), "/".to_string()),
        [alloc, path] => (alloc.clone(), path.clone()),
        _ => return Err(WrongArguments.into()),
    };
    Ok(Command::Alloc(Alloc::Fs(Fs {
        alloc,
        path,
        stat: parsed.bool("stat")?,
        follow: parsed.bool("f")?,
        json: parsed.bool("json")?,
        machine: parsed.bool("H")?,
    })))
}

/// `alloc status`'s command.
pub fn build_status(parsed: &Parsed) -> Result<Command> {
    Ok(Command::Alloc(Alloc::Status(Status {
        alloc: only_alloc(parsed)?,
        stats: parsed.bool("stats")?,
        json: parsed.bool("json")?,
        verbose: parsed.bool("verbose")?,
    })))
}

/// `alloc gc`'s command.
pub fn build_gc(parsed: &Parsed) -> Result<Command> {
    Ok(Command::Alloc(Alloc::Gc(only_alloc(parsed)?)))
}

/// `alloc restart`'s command.
pub fn build_restart(parsed: &Parsed) -> Result<Command> {
    let (alloc, task) = alloc_and_task(parsed)?;
    let all_tasks = parsed.bool("all-tasks")?;
    if all_tasks && task.is_some() {
        bail!("The -all-tasks option cannot be used with a task name");
    }
    Ok(Command::Alloc(Alloc::Restart(Lifecycle {
        alloc,
        task,
        all_tasks,
        signal: String::new(),
    })))
}

/// `alloc signal`'s command.
pub fn build_signal(parsed: &Parsed) -> Result<Command> {
    let (alloc, task) = alloc_and_task(parsed)?;
    Ok(Command::Alloc(Alloc::Signal(Lifecycle {
        alloc,
        task,
        all_tasks: false,
        signal: parsed.value("s").unwrap_or_else(|| "SIGKILL".into()),
    })))
}

/// `<allocation> [<task>]`; `-task` wins over the argument.
fn alloc_and_task(parsed: &Parsed) -> Result<(String, Option<String>)> {
    match parsed.free() {
        [alloc] => Ok((alloc.clone(), parsed.value("task"))),
        [alloc, task] => Ok((alloc.clone(), parsed.value("task").or(Some(task.clone())))),
        _ => Err(WrongArguments.into()),
    }
}

fn only_alloc(parsed: &Parsed) -> Result<String> {
    match parsed.free() {
        [alloc] => Ok(alloc.clone()),
        _ => Err(WrongArguments.into()),
    }
}

fn number(parsed: &Parsed, name: &str) -> Result<Option<u64>> {
    parsed
        .value(name)
        .map(|v| {
            v.parse()
                .with_context(|| format!("-{name} takes a number, not {v:?}"))
        })
        .transpose()
}

/// Run a parsed `caravan alloc …`.
pub fn run(command: Alloc, target: &super::Target) -> Result<()> {
    let api = Api::new(target)?;
    match command {
        Alloc::Logs(logs) => run_logs(&api, &logs),
        Alloc::Fs(fs) => run_fs(&api, &fs),
        Alloc::Status(status) => run_status(&api, &status),
        Alloc::Gc(prefix) => {
            let alloc = api.allocation(&prefix)?;
            let id = id_of(&alloc)?;
            api.call(
                "GET",
                &format!("/v1/client/allocation/{}/gc", encode(&id)),
                "",
            )?;
            output::print(&format!("Garbage collected allocation {id}\n"))
        }
        Alloc::Restart(restart) => {
            let id = id_of(&api.allocation(&restart.alloc)?)?;
            let mut body = json!({"TaskName": restart.task.clone().unwrap_or_default()});
            if restart.all_tasks {
                body["AllTasks"] = true.into();
            }
            api.post_json(
                &format!("/v1/client/allocation/{}/restart", encode(&id)),
                &body,
            )?;
            Ok(())
        }
        Alloc::Exec(exec) => match super::exec::run(exec, target)? {
            0 => Ok(()),
            code => Err(anyhow::anyhow!("the command exited with {code}")),
        },
        Alloc::Signal(signal) => {
            let id = id_of(&api.allocation(&signal.alloc)?)?;
            let body = json!({
                "Signal": signal.signal,
                "Task": signal.task.clone().unwrap_or_default(),
            });
            api.post_json(
                &format!("/v1/client/allocation/{}/signal", encode(&id)),
                &body,
            )?;
            Ok(())
        }
    }
}

fn id_of(alloc: &Value) -> Result<String> {
    alloc["ID"]
        .as_str()
        .map(String::from)
        .context("the agent's allocation has no ID")
}

impl Logs {
    /// The log types to read: stdout unless asked otherwise; both when following with
    /// nothing else said (Nomad's `-f`).
    pub fn types(&self) -> Vec<&'static str> {
        match (self.stdout, self.stderr) {
            (true, false) => vec!["stdout"],
            (false, true) => vec!["stderr"],
            (true, true) => vec!["stdout", "stderr"],
            (false, false) if self.follow && !self.tail => vec!["stdout", "stderr"],
            (false, false) => vec!["stdout"],
        }
    }

    /// The `fs/logs` request for one log type.
    pub fn path(&self, alloc_id: &str, task: &str, kind: &str) -> String {
        let mut query = vec![("task", task.to_string()), ("type", kind.to_string())];
        if self.follow {
            query.push(("follow", "true".into()));
        }
        if let Some(bytes) = self.bytes {
            query.push(("origin", "end".into()));
            query.push(("offset", bytes.to_string()));
        } else if self.tail {
            // caravan counts lines on the agent, exactly (Nomad's CLI guesses 120 bytes a line).
            query.push(("origin", "end".into()));
            query.push(("lines", self.lines.unwrap_or(10).to_string()));
        } else if self.follow {
            // Nomad's `-f`: the newest file from its start, then what follows.
            query.push(("origin", "end".into()));
            query.push(("offset", "0".into()));
        }
        if let Some(since) = &self.since {
            query.push(("since", since.clone()));
        }
        if self.timestamps {
            query.push(("timestamps", "true".into()));
        }
        with_query(&format!("/v1/client/fs/logs/{}", encode(alloc_id)), &query)
    }
}

fn run_logs(api: &Api, logs: &Logs) -> Result<()> {
    let alloc = api.allocation(&logs.alloc)?;
    let id = id_of(&alloc)?;
    let task = pick_task(&alloc, logs.task.as_deref())?;
    let types = logs.types();
    let both = types.len() > 1;
    // `-tail -n N` without `-f` prints exactly N lines, as Nomad's CLI does: the agent starts
    // at the N-th line from the end, but lines written while the answer is read come too.
    let last_lines = logs
        .lines
        .filter(|_| logs.tail && !logs.follow && !logs.json && logs.bytes.is_none());
    let kept: Vec<Arc<Mutex<Vec<u8>>>> = types.iter().map(|_| Arc::default()).collect();
    let streams: Vec<(String, FrameSink)> = types
        .iter()
        .zip(&kept)
        .map(|(&kind, kept)| {
            let json = logs.json;
            let to_stderr = both && kind == "stderr";
            let kept = Arc::clone(kept);
            let sink: FrameSink = Box::new(move |frame| {
                if last_lines.is_some() {
                    kept.lock().unwrap().extend(frame.bytes()?);
                    Ok(true)
                } else if to_stderr {
                    write_frame(&mut std::io::stderr().lock(), &frame, json)
                } else {
                    write_frame(&mut std::io::stdout().lock(), &frame, json)
                }
            });
            (logs.path(&id, &task, kind), sink)
        })
        .collect();
    api.frames_of(streams)?;
    let Some(n) = last_lines else {
        return Ok(());
    };
    for (kind, kept) in types.iter().zip(&kept) {
        let kept = kept.lock().unwrap();
        let tail = last_n_lines(&kept, n);
        if both && *kind == "stderr" {
            output::emit(&mut std::io::stderr().lock(), tail)?;
        } else {
            output::emit(&mut std::io::stdout().lock(), tail)?;
        }
    }
    Ok(())
}

/// The last `n` lines of `data` (a final line without a newline counts as one).
fn last_n_lines(data: &[u8], n: u64) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut found = 0;
    for (i, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            found += 1;
            if found == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

fn write_frame(out: &mut impl Write, frame: &super::frames::Frame, json: bool) -> Result<bool> {
    if json {
        api::write_json_line(out, frame)
    } else {
        api::write_data(out, frame)
    }
}

fn fs_path(op: &str, id: &str, path: &str) -> String {
    with_query(
        &format!("/v1/client/fs/{op}/{}", encode(id)),
        &[("path", path.to_string())],
    )
}

fn run_fs(api: &Api, fs: &Fs) -> Result<()> {
    let alloc = api.allocation(&fs.alloc)?;
    let id = id_of(&alloc)?;
    // As Nomad's CLI: stat first, then list, print or follow.
    let stat = api.get_json(&fs_path("stat", &id, &fs.path))?;
    if fs.stat {
        if fs.json {
            return output::print(&output::json(&stat));
        }
        let mut rows = vec![vec![
            "Mode".to_string(),
            "Size".into(),
            "Modified Time".into(),
            "Content Type".into(),
            "Name".into(),
        ]];
        rows.push(vec![
            output::cell(&stat["FileMode"]),
            output::size(stat["Size"].as_u64().unwrap_or(0), fs.machine),
            output::time(stat["ModTime"].as_str().unwrap_or("")),
            output::cell(&stat["ContentType"]),
            name_of(&stat),
        ]);
        return output::print(&output::table(&rows));
    }
    if stat["IsDir"].as_bool().unwrap_or(false) {
        let list = api.get_json(&fs_path("ls", &id, &fs.path))?;
        if fs.json {
            return output::print(&output::json(&list));
        }
        let mut rows = vec![vec![
            "Mode".to_string(),
            "Size".into(),
            "Modified Time".into(),
            "Name".into(),
        ]];
        for entry in list.as_array().into_iter().flatten() {
            rows.push(vec![
                output::cell(&entry["FileMode"]),
                output::size(entry["Size"].as_u64().unwrap_or(0), fs.machine),
                output::time(entry["ModTime"].as_str().unwrap_or("")),
                name_of(entry),
            ]);
        }
        return output::print(&output::table(&rows));
    }
    if fs.json {
        bail!("-json shows a directory or a stat, not a file's contents (add -stat)");
    }
    if fs.follow {
        let path = with_query(
            &format!("/v1/client/fs/stream/{}", encode(&id)),
            &[
                ("path", fs.path.clone()),
                ("follow", "true".into()),
                ("origin", "start".into()),
                ("offset", "0".into()),
            ],
        );
        return api.frames(&path, |frame| {
            if let Some(event) = frame.file_event.as_deref().filter(|e| !e.is_empty()) {
                let note = format!("{}: {event}\n", frame.file.as_deref().unwrap_or(""));
                output::emit(&mut std::io::stderr().lock(), note.as_bytes())?;
            }
            api::write_data(&mut std::io::stdout().lock(), &frame)
        });
    }
    let body = api.call("GET", &fs_path("cat", &id, &fs.path), "")?;
    output::emit(&mut std::io::stdout().lock(), &body)?;
    Ok(())
}

fn name_of(entry: &Value) -> String {
    let name = entry["Name"].as_str().unwrap_or("");
    if entry["IsDir"].as_bool().unwrap_or(false) {
        format!("{name}/")
    } else {
        name.to_string()
    }
}

fn run_status(api: &Api, status: &Status) -> Result<()> {
    let alloc = api.allocation(&status.alloc)?;
    let id = id_of(&alloc)?;
    // The listing's stub may lack fields the allocation itself has.
    let alloc = api.get_json(&format!("/v1/allocation/{}", encode(&id)))?;
    let stats = if status.stats {
        Some(api.get_json(&format!("/v1/client/allocation/{}/stats", encode(&id)))?)
    } else {
        None
    };
    if status.json {
        let value = match stats {
            Some(stats) => json!({"Allocation": alloc, "Stats": stats}),
            None => alloc,
        };
        return output::print(&output::json(&value));
    }
    output::print(&format_status(&alloc, stats.as_ref(), status.verbose))
}

/// `caravan alloc …` parsed through the command table, for tests.
#[cfg(test)]
fn parse_alloc(list: &[&str]) -> Result<Command> {
    let args: Vec<String> = ["alloc"]
        .iter()
        .chain(list)
        .map(|s| s.to_string())
        .collect();
    super::parse(&args).map(|i| i.command)
}

#[cfg(test)]
mod tests;
