//! `caravan alloc logs|fs|status|gc|restart|signal`: Nomad's `nomad alloc …` commands against the agent at
//! `NOMAD_ADDR`, allocation ids by unique prefix.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::api::{self, Api, FrameSink, encode, with_query};
use super::flags::{Flag, Kind, Parsed};
use super::output;
use super::{Command, Usage};

/// A parsed `caravan alloc …` command.
#[derive(Debug, PartialEq, Eq)]
pub enum Alloc {
    Logs(Logs),
    Fs(Fs),
    Status(Status),
    Gc(String),
    Restart(Lifecycle),
    Signal(Lifecycle),
}

/// `alloc restart` and `alloc signal`: which allocation, which task (all when none).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub alloc: String,
    pub task: Option<String>,
    /// `restart -all-tasks`: dead tasks too, in Nomad; caravan restarts the running ones.
    pub all_tasks: bool,
    /// `signal -s`.
    pub signal: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Logs {
    pub alloc: String,
    pub task: Option<String>,
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tail: bool,
    pub lines: Option<u64>,
    pub bytes: Option<u64>,
    pub since: Option<String>,
    pub timestamps: bool,
    pub json: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fs {
    pub alloc: String,
    pub path: String,
    pub stat: bool,
    pub follow: bool,
    pub json: bool,
    pub machine: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub alloc: String,
    pub stats: bool,
    pub json: bool,
    pub verbose: bool,
}

const HELP: Flag = Flag {
    name: "help",
    kind: Kind::Bool,
    help: "Print this help",
};

pub const LOGS: Usage = Usage {
    usage: "caravan alloc logs [options] <allocation> [<task>]",
    about: "Print a task's stdout (or stderr) from the start, its end, or as it is written.\n\
            The task may be left out when the allocation has only one.",
    flags: &[
        Flag {
            name: "f",
            kind: Kind::Bool,
            help: "Follow: print new output as it is written, until Ctrl-C (exit 0);\nalone (no -stdout/-stderr/-tail/-n/-c) it follows stdout and\nstderr, from the start of the newest log file, as Nomad does",
        },
        Flag {
            name: "stdout",
            kind: Kind::Bool,
            help: "Print stdout (the default)",
        },
        Flag {
            name: "stderr",
            kind: Kind::Bool,
            help: "Print stderr (to stderr when both are followed)",
        },
        Flag {
            name: "tail",
            kind: Kind::Bool,
            help: "Print the end of the log: the last -n lines (default 10), or -c bytes",
        },
        Flag {
            name: "n",
            kind: Kind::Value("lines"),
            help: "Lines to print from the end (implies -tail; counted by the agent)",
        },
        Flag {
            name: "c",
            kind: Kind::Value("bytes"),
            help: "Bytes to print from the end (implies -tail)",
        },
        Flag {
            name: "task",
            kind: Kind::Value("name"),
            help: "The task, instead of the <task> argument",
        },
        Flag {
            name: "since",
            kind: Kind::Value("time"),
            help: "Only lines written since this RFC 3339 time or duration ago (10m):\npassed through as since=; the agent decides (its error is printed)",
        },
        Flag {
            name: "timestamps",
            kind: Kind::Bool,
            help: "Prefix each line with when it was written (passed as timestamps=true)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the agent's frames, one JSON object a line (Data in base64)",
        },
        HELP,
    ],
};

pub const FS: Usage = Usage {
    usage: "caravan alloc fs [options] <allocation> [<path>]",
    about: "List a directory of an allocation, print a file, or stat either.\n\
            The path is relative to the allocation directory (default /).",
    flags: &[
        Flag {
            name: "stat",
            kind: Kind::Bool,
            help: "Show the file's or directory's details instead of its contents",
        },
        Flag {
            name: "f",
            kind: Kind::Bool,
            help: "Follow a file: print what is appended, until Ctrl-C (exit 0)",
        },
        Flag {
            name: "H",
            kind: Kind::Bool,
            help: "Machine-friendly sizes (bytes)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the listing or stat as JSON",
        },
        HELP,
    ],
};

pub const STATUS: Usage = Usage {
    usage: "caravan alloc status [options] <allocation>",
    about: "Show an allocation's status and its tasks' states.",
    flags: &[
        Flag {
            name: "stats",
            kind: Kind::Bool,
            help: "Also show each task's resource usage (CPU, memory)",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the allocation as JSON ({\"Allocation\",\"Stats\"} with -stats)",
        },
        Flag {
            name: "verbose",
            kind: Kind::Bool,
            help: "Show full ids",
        },
        HELP,
    ],
};

pub const GC: Usage = Usage {
    usage: "caravan alloc gc <allocation>",
    about: "Garbage-collect a finished allocation on its client: its directory is removed.\n\
            A running allocation is refused by the agent (exit 1).",
    flags: &[HELP],
};

pub const RESTART: Usage = Usage {
    usage: "caravan alloc restart [options] <allocation> [<task>]",
    about: "Restart a task of a running allocation in place (stopped as a stop does, then\n\
            started again, its log continuing in the next file), or every running task when\n\
            none is named.",
    flags: &[
        Flag {
            name: "task",
            kind: Kind::Value("task-name"),
            help: "The task to restart (as the <task> argument)",
        },
        Flag {
            name: "all-tasks",
            kind: Kind::Bool,
            help: "Restart every task; a task may not be named then",
        },
        HELP,
    ],
};

pub const SIGNAL: Usage = Usage {
    usage: "caravan alloc signal [options] <allocation> [<task>]",
    about: "Send a signal to a task of a running allocation, or to every task when none is\n\
            named.",
    flags: &[
        Flag {
            name: "s",
            kind: Kind::Value("signal"),
            help: "The signal to send (default SIGKILL, as Nomad's)",
        },
        Flag {
            name: "task",
            kind: Kind::Value("task-name"),
            help: "The task to signal (as the <task> argument)",
        },
        HELP,
    ],
};

const SUBCOMMANDS: &str = "\
Usage: caravan alloc <subcommand> [options] <allocation> ...

Subcommands:
  logs     Print or follow a task's stdout/stderr
  fs       List, print, stat or follow files of an allocation
  status   Show an allocation's status (-stats: resource usage)
  gc       Garbage-collect a finished allocation
  restart  Restart a task (or every task) in place
  signal   Send a signal to a task (or every task)

Allocations may be named by a unique prefix of their id. Run
`caravan alloc <subcommand> -help` for its options.
";

/// Parse `caravan alloc …` (without `alloc`).
pub fn parse(args: &[String]) -> Result<Command> {
    let Some((sub, rest)) = args.split_first() else {
        bail!("{SUBCOMMANDS}");
    };
    let usage = match sub.as_str() {
        "logs" => &LOGS,
        "fs" => &FS,
        "status" => &STATUS,
        "gc" => &GC,
        "restart" => &RESTART,
        "signal" => &SIGNAL,
        "-h" | "-help" | "--help" | "help" => return Ok(Command::Text(SUBCOMMANDS.into())),
        other => bail!("unknown subcommand \"alloc {other}\"\n\n{SUBCOMMANDS}"),
    };
    let Some(parsed) = usage.parse(rest)? else {
        return Ok(Command::Text(usage.help()));
    };
    let free = parsed.free();
    let command = match sub.as_str() {
        "logs" => {
            let (alloc, task) = match free {
                [alloc] => (alloc.clone(), parsed.value("task")),
                [alloc, task] => (alloc.clone(), parsed.value("task").or(Some(task.clone()))),
                _ => bail!("{}", usage.wrong_arguments()),
            };
            let lines = number(&parsed, "n")?;
            let bytes = number(&parsed, "c")?;
            Alloc::Logs(Logs {
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
            })
        }
        "fs" => {
            let (alloc, path) = match free {
                [alloc] => (alloc.clone(), "/".to_string()),
                [alloc, path] => (alloc.clone(), path.clone()),
                _ => bail!("{}", usage.wrong_arguments()),
            };
            Alloc::Fs(Fs {
                alloc,
                path,
                stat: parsed.bool("stat")?,
                follow: parsed.bool("f")?,
                json: parsed.bool("json")?,
                machine: parsed.bool("H")?,
            })
        }
        "status" => {
            let [alloc] = free else {
                bail!("{}", usage.wrong_arguments());
            };
            Alloc::Status(Status {
                alloc: alloc.clone(),
                stats: parsed.bool("stats")?,
                json: parsed.bool("json")?,
                verbose: parsed.bool("verbose")?,
            })
        }
        "restart" | "signal" => {
            let (alloc, task) = match free {
                [alloc] => (alloc.clone(), parsed.value("task")),
                [alloc, task] => (alloc.clone(), parsed.value("task").or(Some(task.clone()))),
                _ => bail!("{}", usage.wrong_arguments()),
            };
            if sub == "restart" {
                let all_tasks = parsed.bool("all-tasks")?;
                if all_tasks && task.is_some() {
                    bail!("The -all-tasks option cannot be used with a task name");
                }
                Alloc::Restart(Lifecycle {
                    alloc,
                    task,
                    all_tasks,
                    signal: String::new(),
                })
            } else {
                Alloc::Signal(Lifecycle {
                    alloc,
                    task,
                    all_tasks: false,
                    signal: parsed.value("s").unwrap_or_else(|| "SIGKILL".into()),
                })
            }
        }
        _ => {
            let [alloc] = free else {
                bail!("{}", usage.wrong_arguments());
            };
            Alloc::Gc(alloc.clone())
        }
    };
    Ok(Command::Alloc(command))
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
pub fn run(command: Alloc) -> Result<()> {
    let api = Api::from_env()?;
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

/// The task to read: the one asked for, or the allocation's only one.
fn pick_task(alloc: &Value, asked: Option<&str>) -> Result<String> {
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
    let streams: Vec<(String, FrameSink)> = types
        .into_iter()
        .map(|kind| {
            let json = logs.json;
            let to_stderr = both && kind == "stderr";
            let sink: FrameSink = Box::new(move |frame| {
                if to_stderr {
                    write_frame(&mut std::io::stderr().lock(), &frame, json)
                } else {
                    write_frame(&mut std::io::stdout().lock(), &frame, json)
                }
            });
            (logs.path(&id, &task, kind), sink)
        })
        .collect();
    api.frames_of(streams)
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
                eprintln!("{}: {event}", frame.file.as_deref().unwrap_or(""));
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

/// `alloc status`'s text, from `/v1/allocation/:id` (and its stats).
pub fn format_status(alloc: &Value, stats: Option<&Value>, verbose: bool) -> String {
    let node_id = alloc["NodeID"].as_str().unwrap_or("");
    let mut out = output::key_values(&[
        ("ID", output::cell(&alloc["ID"])),
        ("Name", output::cell(&alloc["Name"])),
        ("Node ID", output::short(node_id, verbose)),
        ("Node Name", output::cell(&alloc["NodeName"])),
        ("Job ID", output::cell(&alloc["JobID"])),
        ("Namespace", output::cell(&alloc["Namespace"])),
        ("Task Group", output::cell(&alloc["TaskGroup"])),
        ("Client Status", output::cell(&alloc["ClientStatus"])),
        ("Desired Status", output::cell(&alloc["DesiredStatus"])),
    ]);
    let mut tasks: Vec<(&String, &Value)> = alloc["TaskStates"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    tasks.sort_by(|a, b| a.0.cmp(b.0));
    for (name, state) in tasks {
        out.push_str(&format!(
            "\nTask {name:?} is {:?}\n",
            state["State"].as_str().unwrap_or("unknown")
        ));
        let when = |key: &str| {
            state[key]
                .as_str()
                .map(output::time)
                .unwrap_or_else(|| "N/A".into())
        };
        out.push_str(&output::key_values(&[
            ("Started At", when("StartedAt")),
            ("Finished At", when("FinishedAt")),
            ("Total Restarts", output::cell(&state["Restarts"])),
            ("Failed", output::cell(&state["Failed"])),
        ]));
        if let Some(stats) = stats {
            out.push_str(&format_task_stats(&stats["Tasks"][name.as_str()]));
        }
    }
    out
}

fn format_task_stats(task: &Value) -> String {
    let usage = &task["ResourceUsage"];
    if usage.is_null() {
        return "\nTask Resources:\n<no sample yet>\n".into();
    }
    let memory = &usage["MemoryStats"];
    let cpu = &usage["CpuStats"];
    let bytes = |key: &str| output::bytes(memory[key].as_u64().unwrap_or(0));
    let float = |key: &str| format!("{:.2}", cpu[key].as_f64().unwrap_or(0.0));
    // As Nomad: the memory figure is RSS, or Usage where RSS is not measured.
    let rss = memory["RSS"].as_u64().unwrap_or(0);
    let used = if rss > 0 {
        rss
    } else {
        memory["Usage"].as_u64().unwrap_or(0)
    };
    let mut out = String::from("\nTask Resources:\n");
    out.push_str(&output::table(&[
        vec!["CPU".to_string(), "Memory".into()],
        vec![
            format!("{:.0} MHz", cpu["TotalTicks"].as_f64().unwrap_or(0.0)),
            output::bytes(used),
        ],
    ]));
    out.push_str("\nMemory Stats\n");
    out.push_str(&output::table(&[
        vec!["Cache", "Max Usage", "RSS", "Swap", "Usage"]
            .into_iter()
            .map(String::from)
            .collect(),
        vec![
            bytes("Cache"),
            bytes("MaxUsage"),
            bytes("RSS"),
            bytes("Swap"),
            bytes("Usage"),
        ],
    ]));
    out.push_str("\nCPU Stats\n");
    out.push_str(&output::table(&[
        vec![
            "Percent",
            "System Mode",
            "User Mode",
            "Total Ticks",
            "Throttled Periods",
            "Throttled Time",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            format!("{}%", float("Percent")),
            format!("{}%", float("SystemMode")),
            format!("{}%", float("UserMode")),
            float("TotalTicks"),
            output::cell(&cpu["ThrottledPeriods"]),
            output::cell(&cpu["ThrottledTime"]),
        ],
    ]));
    out
}

/// `flags::parse` for a table, for tests.
#[cfg(test)]
fn parse_alloc(list: &[&str]) -> Result<Command> {
    let args: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    parse(&args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(list: &[&str]) -> Logs {
        let mut all = vec!["logs"];
        all.extend_from_slice(list);
        match parse_alloc(&all).unwrap() {
            Command::Alloc(Alloc::Logs(logs)) => logs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn logs_flags_shape_the_request() {
        let l = logs(&["abcd", "web"]);
        assert_eq!(l.types(), ["stdout"]);
        assert_eq!(
            l.path("A", "web", "stdout"),
            "/v1/client/fs/logs/A?task=web&type=stdout"
        );
        // -f alone follows both, from the newest file (Nomad's -f).
        let l = logs(&["-f", "abcd"]);
        assert_eq!(l.task, None);
        assert_eq!(l.types(), ["stdout", "stderr"]);
        assert_eq!(
            l.path("A", "t", "stderr"),
            "/v1/client/fs/logs/A?task=t&type=stderr&follow=true&origin=end&offset=0"
        );
        // -tail -n N: the agent counts the lines.
        let l = logs(&["-tail", "-n", "3", "-stderr", "abcd", "t"]);
        assert_eq!(l.types(), ["stderr"]);
        assert_eq!(
            l.path("A", "t", "stderr"),
            "/v1/client/fs/logs/A?task=t&type=stderr&origin=end&lines=3"
        );
        assert!(logs(&["-n=2", "x1"]).tail, "-n implies -tail");
        assert_eq!(
            logs(&["-tail", "x1"]).path("A", "t", "stdout"),
            "/v1/client/fs/logs/A?task=t&type=stdout&origin=end&lines=10"
        );
        assert_eq!(
            logs(&["-c", "100", "-f", "x1"]).path("A", "t", "stdout"),
            "/v1/client/fs/logs/A?task=t&type=stdout&follow=true&origin=end&offset=100"
        );
        // -f with -tail reads stdout only.
        assert_eq!(logs(&["-f", "-tail", "x1"]).types(), ["stdout"]);
        assert_eq!(
            logs(&["-stdout", "-stderr", "x1"]).types(),
            ["stdout", "stderr"]
        );
        // -since and -timestamps pass through.
        assert_eq!(
            logs(&["-since", "10m", "-timestamps", "x1"]).path("A", "t", "stdout"),
            "/v1/client/fs/logs/A?task=t&type=stdout&since=10m&timestamps=true"
        );
        // -task wins over the argument.
        assert_eq!(logs(&["-task=a", "x1", "b"]).task.as_deref(), Some("a"));
        assert!(parse_alloc(&["logs"]).is_err());
        assert!(parse_alloc(&["logs", "a", "b", "c"]).is_err());
        assert!(parse_alloc(&["logs", "-n", "many", "x1"]).is_err());
        assert!(parse_alloc(&["logs", "-bogus", "x1"]).is_err());
    }

    #[test]
    fn help_and_other_subcommands() {
        let Command::Text(help) = parse_alloc(&["logs", "-help"]).unwrap() else {
            panic!()
        };
        assert!(help.contains("-timestamps"), "{help}");
        assert!(help.starts_with("Usage: caravan alloc logs"), "{help}");
        assert!(matches!(
            parse_alloc(&["fs", "-stat", "ab", "alloc/logs"]).unwrap(),
            Command::Alloc(Alloc::Fs(Fs { stat: true, ref path, .. })) if path == "alloc/logs"
        ));
        assert!(matches!(
            parse_alloc(&["fs", "ab"]).unwrap(),
            Command::Alloc(Alloc::Fs(Fs { ref path, .. })) if path == "/"
        ));
        assert!(matches!(
            parse_alloc(&["status", "-stats", "-json", "ab"]).unwrap(),
            Command::Alloc(Alloc::Status(Status {
                stats: true,
                json: true,
                ..
            }))
        ));
        assert!(matches!(
            parse_alloc(&["gc", "ab"]).unwrap(),
            Command::Alloc(Alloc::Gc(ref id)) if id == "ab"
        ));
        assert!(parse_alloc(&["status"]).is_err());
        let lifecycle = |list: &[&str]| match parse_alloc(list).unwrap() {
            Command::Alloc(Alloc::Restart(l) | Alloc::Signal(l)) => l,
            _ => panic!("{list:?} is not restart or signal"),
        };
        assert_eq!(
            lifecycle(&["restart", "-task", "web", "ab"]),
            Lifecycle {
                alloc: "ab".into(),
                task: Some("web".into()),
                ..Default::default()
            }
        );
        assert_eq!(
            lifecycle(&["restart", "-all-tasks", "ab"]),
            Lifecycle {
                alloc: "ab".into(),
                all_tasks: true,
                ..Default::default()
            }
        );
        assert!(parse_alloc(&["restart", "-all-tasks", "ab", "web"]).is_err());
        assert_eq!(
            lifecycle(&["signal", "-s", "SIGHUP", "ab", "web"]),
            Lifecycle {
                alloc: "ab".into(),
                task: Some("web".into()),
                all_tasks: false,
                signal: "SIGHUP".into(),
            }
        );
        assert_eq!(
            lifecycle(&["signal", "ab"]),
            Lifecycle {
                alloc: "ab".into(),
                signal: "SIGKILL".into(),
                ..Default::default()
            }
        );
        assert!(parse_alloc(&["frob", "ab"]).is_err());
        assert!(parse_alloc(&[]).is_err());
    }

    #[test]
    fn the_only_task_or_the_named_one() {
        let one = json!({"TaskStates": {"web": {}}});
        assert_eq!(pick_task(&one, None).unwrap(), "web");
        assert_eq!(pick_task(&one, Some("x")).unwrap(), "x");
        let two = json!({"TaskStates": {"web": {}, "db": {}}});
        let err = pick_task(&two, None).unwrap_err().to_string();
        assert!(err.contains("db, web"), "{err}");
    }

    #[test]
    fn status_text() {
        let alloc = json!({
            "ID": "47899f44-61ab-4647-9b22-3e092c2bbc1d", "Name": "demo.demo[0]",
            "NodeID": "82c15d58-fb00-47ee-9cff-7cc95e2b85b7", "NodeName": "vm",
            "JobID": "demo", "Namespace": "default", "TaskGroup": "demo",
            "ClientStatus": "running", "DesiredStatus": "run",
            "TaskStates": {"demo": {"State": "running", "StartedAt": "2026-12-01T11:25:57.8Z",
                "FinishedAt": null, "Restarts": 0, "Failed": false}}
        });
        let text = format_status(&alloc, None, false);
        assert!(
            text.starts_with("ID             = 47899f44-61ab-4647-9b22-3e092c2bbc1d\n"),
            "{text}"
        );
        assert!(text.contains("Node ID        = 82c15d58\n"), "{text}");
        assert!(text.contains("\nTask \"demo\" is \"running\"\n"), "{text}");
        assert!(
            text.contains("Started At     = 12/01/26 11:25:57 UTC\n"),
            "{text}"
        );
        assert!(text.contains("Finished At    = N/A\n"), "{text}");
        let stats = json!({"Tasks": {"demo": {"ResourceUsage": {
            "MemoryStats": {"RSS": 3620864, "Usage": 0},
            "CpuStats": {"Percent": 1.5, "TotalTicks": 12.0}}}}});
        let text = format_status(&alloc, Some(&stats), false);
        assert!(text.contains("CPU     Memory\n12 MHz  3.5 MiB\n"), "{text}");
        assert!(text.contains("1.50%"), "{text}");
    }
}
