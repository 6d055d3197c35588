//! The command line in Nomad's style: single-dash long flags, `-flag value` or
//! `-flag=value`; every command is a row of one table ([`table::COMMANDS`]), which parses it
//! and prints its help.

pub mod acl;
mod agent_flags;
pub mod alloc;
mod alloc_flags;
mod alloc_status;
pub mod api;
pub mod commands;
mod exec;
pub mod flags;
pub mod frames;
pub mod job;
pub mod node;
pub mod output;
pub mod table;
pub mod target;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use self::flags::Flag;
pub use self::target::Target;
use crate::agent::AgentOptions;

pub use self::agent_flags::AGENT_FLAGS;

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// `caravan agent …`: run an agent.
    Agent(Box<AgentOptions>),
    /// `caravan acl bootstrap`: create the first management token on a running agent.
    AclBootstrap,
    /// `caravan acl policy …`, `caravan acl token …`.
    Acl(acl::Acl),
    /// `caravan core check FILE`: validate a core offline.
    CoreCheck(PathBuf),
    /// `caravan core swap FILE`: make a running agent serve this core.
    CoreSwap(PathBuf),
    /// `caravan config validate FILE...`: check agent configuration files, offline.
    ConfigValidate(Vec<PathBuf>),
    /// `caravan alloc logs|fs|status|gc`.
    Alloc(alloc::Alloc),
    /// `caravan job logs`.
    Job(job::JobLogs),
    /// `caravan node status|meta read|meta apply`, `caravan system gc`.
    Node(node::Node),
    /// `caravan version`.
    Version,
    /// Print this (a help or a listing) and succeed.
    Text(String),
}

/// A command line: the command, and the agent it talks to (Nomad's global flags).
#[derive(Debug)]
pub struct Invocation {
    /// What to do.
    pub command: Command,
    /// The agent it talks to.
    pub target: Target,
}

/// A command's usage line, description and flag table; its help is printed from them
/// ([`table::Entry::help`], which adds `-help` and the global flags).
pub struct Usage {
    /// The usage line.
    pub usage: &'static str,
    /// What the command does.
    pub about: &'static str,
    /// Its flags, in the order the help lists them.
    pub flags: &'static [Flag],
}

/// Run the command line `args` (without the program name); errors are printed.
pub fn run(args: &[String]) -> ExitCode {
    let result = parse(args).and_then(|Invocation { command, target }| {
        // The agent sets its log up from its flags and config file; the other commands log
        // (the checks' warnings, say) at the default level.
        if !matches!(command, Command::Agent(_)) {
            crate::util::logging::init(crate::util::logging::DEFAULT_LEVEL)?;
        }
        run_command(command, &target)
    });
    result.unwrap_or_else(|err| {
        // A closed stderr has nobody to tell; it is no reason to panic.
        let _ = writeln!(std::io::stderr(), "Error: {err:#}");
        ExitCode::FAILURE
    })
}

fn run_command(command: Command, target: &Target) -> Result<ExitCode> {
    match command {
        Command::Text(text) => output::print(&text).map(|()| ExitCode::SUCCESS),
        Command::Alloc(alloc::Alloc::Exec(exec)) => exec::run(exec, target).map(ExitCode::from),
        Command::Alloc(command) => alloc::run(command, target).map(|()| ExitCode::SUCCESS),
        Command::Node(command) => node::run(command, target).map(|()| ExitCode::SUCCESS),
        Command::Job(logs) => job::run(logs, target).map(|()| ExitCode::SUCCESS),
        Command::Version => output::print(&format!("caravan {}\n", env!("CARGO_PKG_VERSION")))
            .map(|()| ExitCode::SUCCESS),
        Command::AclBootstrap => commands::acl_bootstrap(target).map(|()| ExitCode::SUCCESS),
        Command::Acl(command) => acl::run(command, target).map(|()| ExitCode::SUCCESS),
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
        Command::CoreSwap(path) => commands::swap(&path, target).map(|()| ExitCode::SUCCESS),
        Command::ConfigValidate(paths) => {
            commands::config_validate(&paths).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Threads for blocking work: calls into the core (CPU, and file I/O that the page cache
/// mostly answers), file reads for `cat`, swaps. Tokio's default of 512 only adds threads,
/// each with its stack and allocator cache, when 1,000 streams pull at once on a few cores;
/// 64 still lets slow disks overlap.
const MAX_BLOCKING_THREADS: usize = 64;

/// Parse `args` (without the program name) against the command table.
pub fn parse(args: &[String]) -> Result<Invocation> {
    table::parse(args)
}
