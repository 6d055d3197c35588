//! Command-line parsing in Nomad's style: single-dash long flags, `-flag value` or
//! `-flag=value`, from one table ([`AGENT_FLAGS`]) that also prints the help.

pub mod alloc;
mod alloc_flags;
mod alloc_status;
pub mod api;
pub mod commands;
mod exec;
pub mod flags;
pub mod frames;
pub mod node;
pub mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use self::flags::{Flag, Kind};
use crate::agent::AgentOptions;

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    Agent(Box<AgentOptions>),
    /// `caravan acl bootstrap`: create the first management token on a running agent.
    AclBootstrap,
    /// `caravan core check FILE`: validate a core offline.
    CoreCheck(PathBuf),
    /// `caravan core swap FILE`: make a running agent serve this core.
    CoreSwap(PathBuf),
    /// `caravan alloc logs|fs|status|gc`.
    Alloc(alloc::Alloc),
    /// `caravan node status|meta read|meta apply`, `caravan system gc`.
    Node(node::Node),
    Version,
    Help,
    /// Print this (a subcommand's help) and succeed.
    Text(String),
}

/// A subcommand's usage line, description and flag table; its help is printed from them.
pub struct Usage {
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
}

impl Usage {
    /// `Usage: …`, the description, then the flags from the table.
    pub fn help(&self) -> String {
        format!(
            "Usage: {}\n\n{}\n\nOptions (-flag, -flag=value or -flag value):\n{}\n\
             The agent is NOMAD_ADDR (default http://127.0.0.1:4646), with NOMAD_TOKEN if set.\n\
             Exit status: 0 on success, 1 on any error (the agent's status and message are printed).\n",
            self.usage,
            self.about,
            flags::help(self.flags)
        )
    }

    /// Parse `args` against the table; `None` when help was asked for.
    pub fn parse(&self, args: &[String]) -> Result<Option<flags::Parsed>> {
        if args
            .iter()
            .any(|a| matches!(a.as_str(), "-h" | "-help" | "--help"))
        {
            return Ok(None);
        }
        flags::parse(self.flags, args)
            .map(Some)
            .map_err(|err| anyhow::anyhow!("{err}\n\n{}", self.help()))
    }

    /// The error text for a wrong number of arguments.
    pub fn wrong_arguments(&self) -> String {
        format!("This command takes other arguments\n\n{}", self.help())
    }
}

const COMMANDS: &str = "\
Usage: caravan <command> [options]

Commands:
  agent             Run a caravan agent (client, server, or both)
  acl bootstrap     Create the first management token on the agent at NOMAD_ADDR
  core check FILE   Run a swap's checks on a core component, offline (exit 1 if rejected)
  core swap FILE    Make the agent at NOMAD_ADDR (default http://127.0.0.1:4646) serve FILE;
                    NOMAD_TOKEN, if set, is sent as X-Nomad-Token
  version           Print the version

Commands for people, against the agent at NOMAD_ADDR (NOMAD_TOKEN if set), shaped like
Nomad's; allocations by unique id prefix; -json for scripts; exit 0 ok, 1 error.
`caravan <command> -help` lists each one's flags:
  alloc logs [-f] [-stdout] [-stderr] [-tail] [-n N] [-c BYTES] [-since D] [-timestamps]
             [-json] ALLOC [TASK]     Print or follow a task's logs (Ctrl-C ends -f, exit 0)
  alloc fs [-stat] [-f] [-H] [-json] ALLOC [PATH]
                                      List a directory, print, stat or follow a file
  alloc status [-stats] [-json] ALLOC Show an allocation and its tasks (-stats: usage)
  alloc gc ALLOC                      Garbage-collect a finished allocation
  alloc restart [-task T] [-all-tasks] ALLOC [TASK]
                                      Restart a task (or every task) in place
  alloc exec [-task T] [-i=BOOL] [-t] ALLOC CMD [ARGS...]
                                      Run a command in a task (exit: its exit code)
  alloc signal [-s SIGNAL] [-task T] ALLOC [TASK]
                                      Send a signal to a task (or every task)
  node status [-self] [-stats] [-json] [NODE]
                                      List nodes, or show one and its allocations
  node meta read [-json] [-node-id ID]
                                      Print a client's metadata
  node meta apply [-unset K1,K2] [-node-id ID] K=V ...
                                      Set or unset a client's dynamic metadata
  system gc [-node-id ID]             Garbage-collect every finished allocation on a client

Agent options (-flag, -flag=value or -flag value; booleans take -flag=false, never the
next argument):
";

/// `caravan agent`'s flags: parsed by [`flags::parse`] and printed by [`usage`].
pub const AGENT_FLAGS: &[Flag] = &[
    Flag {
        name: "dev",
        kind: Kind::Bool,
        help: "Development mode: 127.0.0.1:4646, temporary data dir, demo allocation",
    },
    Flag {
        name: "config",
        kind: Kind::Repeated("path"),
        help: "HCL or JSON agent configuration (repeatable; later files win)",
    },
    Flag {
        name: "data-dir",
        kind: Kind::Value("path"),
        help: "Where state and allocation directories live",
    },
    Flag {
        name: "bind",
        kind: Kind::Value("addr"),
        help: "Address to listen on (default 0.0.0.0, or 127.0.0.1 with -dev)",
    },
    Flag {
        name: "http-port",
        kind: Kind::Value("port"),
        help: "HTTP port (default 4646; 0 picks a free one)",
    },
    Flag {
        name: "specs-dir",
        kind: Kind::Value("path"),
        help: "Directory of allocation specs (default <data-dir>/specs)",
    },
    Flag {
        name: "log-level",
        kind: Kind::Value("level"),
        help: "TRACE, DEBUG, INFO (default), WARN or ERROR, as `log_level`;\nRUST_LOG, when set, filters instead (e.g. RUST_LOG=wasmtime=debug,info)",
    },
    Flag {
        name: "max-streams",
        kind: Kind::Value("n"),
        help: "Streamed responses open at once (default 1024; more get 503)",
    },
    Flag {
        name: "acl-enabled",
        kind: Kind::Bool,
        help: "Enforce ACLs (as `acl { enabled = true }`)",
    },
    Flag {
        name: "server",
        kind: Kind::Bool,
        help: "Run as a server: keep a registry of client nodes and forward to them",
    },
    Flag {
        name: "client",
        kind: Kind::Bool,
        help: "Also run allocations when -server is given (the default without -server)",
    },
    Flag {
        name: "servers",
        kind: Kind::Repeated("a,b"),
        help: "host:port of servers to register with (client { servers = [...] })",
    },
    Flag {
        name: "node",
        kind: Kind::Value("name"),
        help: "This node's name (default: the host name)",
    },
    Flag {
        name: "advertise",
        kind: Kind::Value("addr"),
        help: "host:port where others reach this agent (default: the bound address)",
    },
    Flag {
        name: "core",
        kind: Kind::Value("path"),
        help: "Serve this core component instead of the built-in one, and swap\nto it again whenever the file changes (SIGHUP reloads it too);\n-core=native answers with the core linked natively (the benchmarks' baseline)",
    },
    Flag {
        name: "core-call-timeout",
        kind: Kind::Value("duration"),
        help: "Deadline of each call into the core (default 30s)",
    },
];

/// The help text: the commands, then the agent's flags from [`AGENT_FLAGS`].
pub fn usage() -> String {
    format!("{COMMANDS}{}", flags::help(AGENT_FLAGS))
}

/// Run the command line `args` (without the program name); errors are printed.
pub fn run(args: &[String]) -> ExitCode {
    let result = parse(args).and_then(|command| {
        // The agent sets its log up from its flags and config file; the other commands log
        // (the checks' warnings, say) at the default level.
        if !matches!(command, Command::Agent(_)) {
            crate::util::logging::init(crate::util::logging::DEFAULT_LEVEL)?;
        }
        run_command(command)
    });
    result.unwrap_or_else(|err| {
        eprintln!("Error: {err:#}");
        ExitCode::FAILURE
    })
}

fn run_command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Help => {
            print!("{}", usage());
            Ok(ExitCode::SUCCESS)
        }
        Command::Text(text) => output::print(&text).map(|()| ExitCode::SUCCESS),
        Command::Alloc(alloc::Alloc::Exec(exec)) => exec::run(exec).map(ExitCode::from),
        Command::Alloc(command) => alloc::run(command).map(|()| ExitCode::SUCCESS),
        Command::Node(command) => node::run(command).map(|()| ExitCode::SUCCESS),
        Command::Version => {
            println!("caravan {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::AclBootstrap => commands::acl_bootstrap().map(|()| ExitCode::SUCCESS),
        Command::Agent(options) => tokio::runtime::Builder::new_multi_thread()
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(crate::agent::run(*options)))
            .map(|()| ExitCode::SUCCESS),
        // The verdict is printed either way; a rejection is told by the exit status.
        Command::CoreCheck(path) => commands::check(&path).map(|accepted| {
            if accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::CoreSwap(path) => commands::swap(&path).map(|()| ExitCode::SUCCESS),
    }
}

/// Threads for blocking work: calls into the core (CPU, and file I/O that the page cache
/// mostly answers), file reads for `cat`, swaps. Tokio's default of 512 only adds threads,
/// each with its stack and allocator cache, when 1,000 streams pull at once on a few cores;
/// 64 still lets slow disks overlap.
const MAX_BLOCKING_THREADS: usize = 64;

/// Parse `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "agent" => parse_agent(rest).map(|o| Command::Agent(Box::new(o))),
        "acl" => match rest.first().map(String::as_str) {
            Some("bootstrap") => Ok(Command::AclBootstrap),
            _ => bail!("usage: caravan acl bootstrap\n\n{}", usage()),
        },
        "core" => parse_core(rest),
        "alloc" => alloc::parse(rest),
        "node" => node::parse(rest),
        "system" => node::parse_system(rest),
        "version" | "-version" | "--version" | "-v" => Ok(Command::Version),
        "help" | "-help" | "--help" | "-h" => Ok(Command::Help),
        other => bail!("unknown command {other:?}\n\n{}", usage()),
    }
}

fn parse_core(args: &[String]) -> Result<Command> {
    match args {
        [action, file] if action == "check" => Ok(Command::CoreCheck(PathBuf::from(file))),
        [action, file] if action == "swap" => Ok(Command::CoreSwap(PathBuf::from(file))),
        _ => bail!(
            "usage: caravan core check FILE | caravan core swap FILE\n\n{}",
            usage()
        ),
    }
}

fn parse_agent(args: &[String]) -> Result<AgentOptions> {
    let flags =
        flags::parse(AGENT_FLAGS, args).map_err(|err| anyhow::anyhow!("{err}\n\n{}", usage()))?;
    if let Some(arg) = flags.free().first() {
        bail!("unexpected argument {arg:?} (boolean flags take -flag=false, not a separate value)");
    }
    let number = |name: &str| -> Result<Option<usize>> {
        flags
            .value(name)
            .map(|v| v.parse().with_context(|| format!("invalid -{name} {v:?}")))
            .transpose()
    };
    let log_level = flags.value("log-level");
    if let Some(level) = &log_level {
        crate::util::logging::check_level(level)?;
    }
    Ok(AgentOptions {
        dev: flags.bool("dev")?,
        config_files: flags
            .values("config")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        data_dir: flags.value("data-dir").map(PathBuf::from),
        bind_addr: flags.value("bind"),
        http_port: flags
            .value("http-port")
            .map(|v| {
                v.parse()
                    .with_context(|| format!("invalid -http-port {v:?}"))
            })
            .transpose()?,
        specs_dir: flags.value("specs-dir").map(PathBuf::from),
        core: flags.value("core").map(PathBuf::from),
        max_streams: number("max-streams")?,
        acl_enabled: flags.bool("acl-enabled")?,
        server: flags.bool("server")?,
        client: flags.bool("client")?,
        servers: flags
            .values("servers")
            .iter()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        node_name: flags.value("node"),
        advertise: flags.value("advertise"),
        core_call_timeout: flags
            .value("core-call-timeout")
            .map(|v| {
                crate::agent::config::call_timeout(&v)
                    .with_context(|| format!("invalid -core-call-timeout {v:?}"))
            })
            .transpose()?,
        log_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nomad_style_flags() {
        let Command::Agent(o) = parse(&args(&[
            "agent",
            "-dev",
            "-http-port=0",
            "--data-dir",
            "/tmp/x",
            "-config",
            "a.hcl",
        ]))
        .unwrap() else {
            panic!()
        };
        assert!(o.dev);
        assert_eq!(o.http_port, Some(0));
        assert_eq!(o.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(o.config_files, vec![PathBuf::from("a.hcl")]);
        assert!(parse(&args(&["agent", "-nope"])).is_err());
        assert!(parse(&args(&["agent", "-http-port"])).is_err());
    }

    #[test]
    fn core_commands_and_the_call_timeout() {
        let Command::Agent(o) = parse(&args(&["agent", "-core-call-timeout=250ms"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            o.core_call_timeout,
            Some(std::time::Duration::from_millis(250))
        );
        assert!(parse(&args(&["agent", "-core-call-timeout=5"])).is_err());
        assert!(parse(&args(&["agent", "-core-call-timeout=1ms"])).is_err());
        assert!(matches!(
            parse(&args(&["core", "check", "x.wasm"])).unwrap(),
            Command::CoreCheck(p) if p == Path::new("x.wasm")
        ));
        assert!(matches!(
            parse(&args(&["core", "swap", "x.wasm"])).unwrap(),
            Command::CoreSwap(p) if p == Path::new("x.wasm")
        ));
        assert!(parse(&args(&["core", "frobnicate", "x.wasm"])).is_err());
        assert!(parse(&args(&["core", "check"])).is_err());
    }

    fn agent(list: &[&str]) -> Result<AgentOptions> {
        let mut all = vec!["agent"];
        all.extend_from_slice(list);
        match parse(&args(&all))? {
            Command::Agent(options) => Ok(*options),
            other => panic!("not an agent command: {other:?}"),
        }
    }

    /// Every boolean flag, each way Nomad accepts it.
    #[test]
    fn every_boolean_flag_takes_an_inline_value() {
        let get = |o: &AgentOptions, name: &str| match name {
            "dev" => o.dev,
            "acl-enabled" => o.acl_enabled,
            "server" => o.server,
            "client" => o.client,
            other => panic!("a boolean flag without a test: -{other}"),
        };
        let booleans: Vec<&str> = AGENT_FLAGS
            .iter()
            .filter(|f| f.kind == Kind::Bool)
            .map(|f| f.name)
            .collect();
        assert_eq!(booleans, ["dev", "acl-enabled", "server", "client"]);
        for name in booleans {
            for (form, expected) in [
                (format!("-{name}"), true),
                (format!("--{name}"), true),
                (format!("-{name}=true"), true),
                (format!("-{name}=1"), true),
                (format!("-{name}=false"), false),
                (format!("-{name}=0"), false),
                (format!("-{name}=FALSE"), false),
            ] {
                let options = agent(&[&form]).unwrap();
                assert_eq!(get(&options, name), expected, "{form}");
            }
            assert!(
                !get(&agent(&[]).unwrap(), name),
                "-{name} defaults to false"
            );
            // The last occurrence wins, as with Go's flag package.
            assert!(!get(
                &agent(&[&format!("-{name}"), &format!("-{name}=false")]).unwrap(),
                name
            ));
            assert!(get(
                &agent(&[&format!("-{name}=false"), &format!("-{name}")]).unwrap(),
                name
            ));
            // A boolean flag never takes the next argument as its value.
            let err = agent(&[&format!("-{name}"), "false"])
                .unwrap_err()
                .to_string();
            assert!(err.contains("unexpected argument \"false\""), "{err}");
            assert!(agent(&[&format!("-{name}=maybe")]).is_err());
        }
    }

    #[test]
    fn valued_flags_take_the_next_argument_or_an_inline_one() {
        let o = agent(&["-node", "n1", "-log-level=debug", "-max-streams", "7"]).unwrap();
        assert_eq!(o.node_name.as_deref(), Some("n1"));
        assert_eq!(o.log_level.as_deref(), Some("debug"));
        assert_eq!(o.max_streams, Some(7));
        let o = agent(&["-node=a", "-node=b", "-config=1.hcl", "-config", "2.hcl"]).unwrap();
        assert_eq!(o.node_name.as_deref(), Some("b"), "the last one wins");
        assert_eq!(
            o.config_files,
            [PathBuf::from("1.hcl"), PathBuf::from("2.hcl")]
        );
        let o = agent(&["-servers=a:1,b:2", "-servers", "c:3"]).unwrap();
        assert_eq!(o.servers, ["a:1", "b:2", "c:3"]);
        assert!(agent(&["-log-level=loud"]).is_err());
        assert!(agent(&["-node"]).is_err());
        assert!(agent(&["stray"]).is_err());
    }

    #[test]
    fn the_help_comes_from_the_table_and_names_each_flag_once() {
        let help = usage();
        for flag in AGENT_FLAGS {
            let usage = match flag.kind {
                Kind::Bool => format!("  -{}", flag.name),
                Kind::Value(hint) | Kind::Repeated(hint) => format!("  -{}=<{hint}>", flag.name),
            };
            assert_eq!(
                help.lines()
                    .filter(|l| l.starts_with(&format!("{usage} ")) || *l == usage)
                    .count(),
                1,
                "{usage} in\n{help}"
            );
        }
    }

    /// Each people's command prints its help from its table, naming every flag once, and
    /// the top-level usage names each command.
    #[test]
    fn every_command_prints_its_flags_from_its_table() {
        let commands: [(&[&str], &Usage); 10] = [
            (&["alloc", "logs"], &alloc_flags::LOGS),
            (&["alloc", "fs"], &alloc_flags::FS),
            (&["alloc", "status"], &alloc_flags::STATUS),
            (&["alloc", "gc"], &alloc_flags::GC),
            (&["alloc", "restart"], &alloc_flags::RESTART),
            (&["alloc", "signal"], &alloc_flags::SIGNAL),
            (&["node", "status"], &node::STATUS),
            (&["node", "meta", "read"], &node::META_READ),
            (&["node", "meta", "apply"], &node::META_APPLY),
            (&["system", "gc"], &node::SYSTEM_GC),
        ];
        for (words, table) in commands {
            let mut line: Vec<&str> = words.to_vec();
            line.push("-help");
            let Command::Text(help) = parse(&args(&line)).unwrap() else {
                panic!("{line:?} is not help")
            };
            assert!(help.starts_with(&format!("Usage: caravan {}", words.join(" "))));
            for flag in table.flags {
                let usage = match flag.kind {
                    Kind::Bool => format!("  -{} ", flag.name),
                    Kind::Value(hint) | Kind::Repeated(hint) => {
                        format!("  -{}=<{hint}> ", flag.name)
                    }
                };
                assert_eq!(help.matches(&usage).count(), 1, "{usage} in\n{help}");
            }
            assert!(
                usage().contains(&format!("  {}", words.join(" "))),
                "{words:?}"
            );
        }
    }
}
