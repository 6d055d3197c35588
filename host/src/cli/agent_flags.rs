//! `caravan agent`: its flag table, and the agent's options from it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::flags::{Flag, Kind, Parsed};
use super::{Command, Usage};
use crate::agent::AgentOptions;

pub const AGENT: Usage = Usage {
    usage: "caravan agent [options]",
    about: "Run a caravan agent (client, server, or both).",
    flags: AGENT_FLAGS,
};

/// `caravan agent`'s flags: parsed and printed from this table.
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

/// `caravan agent`'s options from its parsed flags.
pub fn build(flags: &Parsed) -> Result<Command> {
    parse_agent(flags).map(|options| Command::Agent(Box::new(options)))
}

fn parse_agent(flags: &Parsed) -> Result<AgentOptions> {
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
mod tests;
