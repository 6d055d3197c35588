//! Command-line parsing in Nomad's style: single-dash long flags, `-flag value` or
//! `-flag=value`.

pub mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

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
    Version,
    Help,
}

pub const USAGE: &str = "\
Usage: caravan <command> [options]

Commands:
  agent             Run a caravan agent (client, server, or both)
  acl bootstrap     Create the first management token on the agent at NOMAD_ADDR
  core check FILE   Run a swap's checks on a core component, offline (exit 1 if rejected)
  core swap FILE    Make the agent at NOMAD_ADDR (default http://127.0.0.1:4646) serve FILE;
                    NOMAD_TOKEN, if set, is sent as X-Nomad-Token
  version           Print the version

Agent options:
  -dev                 Development mode: 127.0.0.1:4646, temporary data dir, demo allocation
  -config=<path>       HCL or JSON agent configuration (repeatable; later files win)
  -data-dir=<path>     Where state and allocation directories live
  -bind=<addr>         Address to listen on (default 0.0.0.0, or 127.0.0.1 with -dev)
  -http-port=<port>    HTTP port (default 4646; 0 picks a free one)
  -specs-dir=<path>    Directory of allocation specs (default <data-dir>/specs)
  -core=native         Answer with the core linked natively (the benchmarks' baseline)
  -max-streams=<n>     Streamed responses open at once (default 1024; more get 503)
  -acl-enabled         Enforce ACLs (as `acl { enabled = true }`)
  -server              Run as a server: keep a registry of client nodes and forward to them
  -client              Also run allocations when -server is given (the default without -server)
  -servers=<a,b>       host:port of servers to register with (client { servers = [...] })
  -node=<name>         This node's name (default: the host name)
  -advertise=<addr>    host:port where others reach this agent (default: the bound address)
  -core=<path>         Serve this core component instead of the built-in one, and swap
                       to it again whenever the file changes (SIGHUP reloads it too)
  -core-call-timeout=<duration>
                       Deadline of each call into the core (default 30s)
";

/// Run the command line `args` (without the program name); errors are printed.
pub fn run(args: &[String]) -> ExitCode {
    let result = parse(args).and_then(|command| match command {
        Command::Help => {
            print!("{}", USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("caravan {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::AclBootstrap => commands::acl_bootstrap().map(|()| ExitCode::SUCCESS),
        Command::Agent(options) => tokio::runtime::Builder::new_multi_thread()
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
    });
    result.unwrap_or_else(|err| {
        eprintln!("Error: {err:#}");
        ExitCode::FAILURE
    })
}

/// Parse `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Command> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "agent" => parse_agent(rest).map(|o| Command::Agent(Box::new(o))),
        "acl" => match rest.first().map(String::as_str) {
            Some("bootstrap") => Ok(Command::AclBootstrap),
            _ => bail!("usage: caravan acl bootstrap\n\n{USAGE}"),
        },
        "core" => parse_core(rest),
        "version" | "-version" | "--version" | "-v" => Ok(Command::Version),
        "help" | "-help" | "--help" | "-h" => Ok(Command::Help),
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

fn parse_core(args: &[String]) -> Result<Command> {
    match args {
        [action, file] if action == "check" => Ok(Command::CoreCheck(PathBuf::from(file))),
        [action, file] if action == "swap" => Ok(Command::CoreSwap(PathBuf::from(file))),
        _ => bail!("usage: caravan core check FILE | caravan core swap FILE\n\n{USAGE}"),
    }
}

fn parse_agent(args: &[String]) -> Result<AgentOptions> {
    let mut options = AgentOptions::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.trim_start_matches('-');
        if flag.len() == arg.len() {
            bail!("unexpected argument {arg:?}");
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        if name == "dev" {
            options.dev = inline.as_deref().map_or(Ok(true), parse_bool_flag)?;
            continue;
        }
        let mut value = || -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args
                    .next()
                    .cloned()
                    .with_context(|| format!("flag -{name} needs a value")),
            }
        };
        match name {
            "config" => options.config_files.push(PathBuf::from(value()?)),
            "data-dir" => options.data_dir = Some(PathBuf::from(value()?)),
            "bind" => options.bind_addr = Some(value()?),
            "http-port" => {
                let v = value()?;
                options.http_port = Some(
                    v.parse()
                        .with_context(|| format!("invalid -http-port {v:?}"))?,
                );
            }
            "specs-dir" => options.specs_dir = Some(PathBuf::from(value()?)),
            "core" => options.core = Some(PathBuf::from(value()?)),
            "acl-enabled" => options.acl_enabled = true,
            "server" => options.server = true,
            "client" => options.client = true,
            "servers" => options.servers.extend(
                value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "node" => options.node_name = Some(value()?),
            "advertise" => options.advertise = Some(value()?),
            "max-streams" => {
                let v = value()?;
                options.max_streams = Some(
                    v.parse()
                        .with_context(|| format!("invalid -max-streams {v:?}"))?,
                );
            }
            "core-call-timeout" => {
                let v = value()?;
                options.core_call_timeout = Some(
                    crate::agent::config::call_timeout(&v)
                        .with_context(|| format!("invalid -core-call-timeout {v:?}"))?,
                );
            }
            _ => bail!("unknown flag -{name}\n\n{USAGE}"),
        }
    }
    Ok(options)
}

fn parse_bool_flag(value: &str) -> Result<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => bail!("invalid boolean value {value:?}"),
    }
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
}
