//! Every command of the `caravan` binary in one table: the words that name it, its usage and
//! flags, and how its arguments become a [`Command`]. Parsing, `-help`, the global flags and
//! the listings are generic over the table, so a new command is one row and its `-help`
//! can never act: help is answered before a command is even built.

use anyhow::{Result, bail};

use super::flags::{self, Flag, Kind, Parsed, WrongArguments};
use super::{Command, Invocation, Target, Usage, acl, alloc, commands, exec, job, node};

/// One command.
pub struct Entry {
    /// The words that name it: `["alloc", "logs"]`.
    pub words: &'static [&'static str],
    /// One line for the listings.
    pub summary: &'static str,
    /// Its usage line, description and flags.
    pub usage: &'static Usage,
    /// It talks to an agent, so it takes Nomad's global flags ([`super::target::FLAGS`]).
    pub remote: bool,
    /// Flags only before the first argument: the rest is another program's (`alloc exec`).
    pub leading: bool,
    /// Left out of the listings (a command for caravan itself, not for people).
    pub hidden: bool,
    /// The command from its parsed flags and arguments; [`WrongArguments`] for a wrong count.
    pub build: fn(&Parsed) -> Result<Command>,
}

/// The words that ask for help, anywhere among a command's flags.
pub const HELP_WORDS: [&str; 3] = ["-h", "-help", "--help"];

/// Every command; the listings keep this order.
pub const COMMANDS: &[Entry] = &[
    Entry {
        words: &["agent"],
        summary: "Run a caravan agent (client, server, or both)",
        usage: &super::agent_flags::AGENT,
        remote: false,
        leading: false,
        hidden: false,
        build: super::agent_flags::build,
    },
    Entry {
        words: &["acl", "bootstrap"],
        summary: "Create the first management token on the agent",
        usage: &commands::ACL_BOOTSTRAP,
        remote: true,
        leading: false,
        hidden: false,
        build: |parsed| no_arguments(parsed, Command::AclBootstrap),
    },
    client(
        &["acl", "policy", "apply"],
        "Create or replace an ACL policy",
        &acl::POLICY_APPLY,
        acl::build_policy_apply,
    ),
    client(
        &["acl", "policy", "list"],
        "List ACL policies",
        &acl::POLICY_LIST,
        acl::build_policy_list,
    ),
    client(
        &["acl", "policy", "info"],
        "Show an ACL policy and its rules",
        &acl::POLICY_INFO,
        acl::build_policy_info,
    ),
    client(
        &["acl", "policy", "delete"],
        "Delete an ACL policy",
        &acl::POLICY_DELETE,
        acl::build_policy_delete,
    ),
    client(
        &["acl", "token", "create"],
        "Create an ACL token (its secret is printed once)",
        &acl::TOKEN_CREATE,
        acl::build_token_create,
    ),
    client(
        &["acl", "token", "list"],
        "List ACL tokens",
        &acl::TOKEN_LIST,
        acl::build_token_list,
    ),
    client(
        &["acl", "token", "info"],
        "Show an ACL token",
        &acl::TOKEN_INFO,
        acl::build_token_info,
    ),
    client(
        &["acl", "token", "update"],
        "Change an ACL token's name, type or policies",
        &acl::TOKEN_UPDATE,
        acl::build_token_update,
    ),
    client(
        &["acl", "token", "delete"],
        "Delete an ACL token",
        &acl::TOKEN_DELETE,
        acl::build_token_delete,
    ),
    client(
        &["acl", "token", "self"],
        "Show the token in NOMAD_TOKEN",
        &acl::TOKEN_SELF,
        acl::build_token_self,
    ),
    Entry {
        words: &["core", "check"],
        summary: "Run a swap's checks on a core component, offline",
        usage: &commands::CORE_CHECK,
        remote: false,
        leading: false,
        hidden: false,
        build: |parsed| one_argument(parsed).map(|file| Command::CoreCheck(file.into())),
    },
    Entry {
        words: &["core", "swap"],
        summary: "Make the agent serve a core component",
        usage: &commands::CORE_SWAP,
        remote: true,
        leading: false,
        hidden: false,
        build: |parsed| one_argument(parsed).map(|file| Command::CoreSwap(file.into())),
    },
    Entry {
        words: &["config", "validate"],
        summary: "Check agent configuration files: every mistake, with file and line",
        usage: &commands::CONFIG_VALIDATE,
        remote: false,
        leading: false,
        hidden: false,
        build: |parsed| match parsed.free() {
            [] => Err(WrongArguments.into()),
            files => Ok(Command::ConfigValidate(
                files.iter().map(std::path::PathBuf::from).collect(),
            )),
        },
    },
    client(
        &["alloc", "logs"],
        "Print or follow a task's stdout/stderr",
        &alloc::LOGS,
        alloc::build_logs,
    ),
    client(
        &["alloc", "fs"],
        "List, print, stat or follow files of an allocation",
        &alloc::FS,
        alloc::build_fs,
    ),
    client(
        &["alloc", "status"],
        "Show an allocation's status (-stats: resource usage)",
        &alloc::STATUS,
        alloc::build_status,
    ),
    client(
        &["alloc", "gc"],
        "Garbage-collect a finished allocation",
        &alloc::GC,
        alloc::build_gc,
    ),
    client(
        &["alloc", "restart"],
        "Restart a task (or every task) in place",
        &alloc::RESTART,
        alloc::build_restart,
    ),
    Entry {
        leading: true,
        ..client(
            &["alloc", "exec"],
            "Run a command in a task's environment",
            &exec::EXEC,
            alloc::build_exec,
        )
    },
    client(
        &["alloc", "signal"],
        "Send a signal to a task (or every task)",
        &alloc::SIGNAL,
        alloc::build_signal,
    ),
    client(
        &["node", "status"],
        "List nodes, or show one (-self: this agent's) and its allocations",
        &node::STATUS,
        node::build_status,
    ),
    client(
        &["node", "meta", "read"],
        "Print a client's metadata",
        &node::META_READ,
        node::build_meta_read,
    ),
    client(
        &["node", "meta", "apply"],
        "Set or unset a client's dynamic metadata",
        &node::META_APPLY,
        node::build_meta_apply,
    ),
    client(
        &["job", "logs"],
        "Print or follow the logs of every allocation of a job, merged",
        &job::LOGS,
        job::build_logs,
    ),
    client(
        &["system", "gc"],
        "Garbage-collect every finished allocation on a client",
        &node::SYSTEM_GC,
        node::build_system_gc,
    ),
    Entry {
        words: &["version"],
        summary: "Print the version",
        usage: &VERSION,
        remote: false,
        leading: false,
        hidden: false,
        build: |parsed| no_arguments(parsed, Command::Version),
    },
];

/// A command for people against an agent: remote, flags anywhere, listed.
const fn client(
    words: &'static [&'static str],
    summary: &'static str,
    usage: &'static Usage,
    build: fn(&Parsed) -> Result<Command>,
) -> Entry {
    Entry {
        words,
        summary,
        usage,
        remote: true,
        leading: false,
        hidden: false,
        build,
    }
}

const VERSION: Usage = Usage {
    usage: "caravan version",
    about: "Print the version.",
    flags: &[],
};

/// The flags every command takes: `-help` (and `-h`), printed once at the end of its options.
const HELP: Flag = Flag {
    name: "help",
    kind: Kind::Bool,
    help: "Print this help (also -h) and do nothing else",
};
const H: Flag = Flag {
    name: "h",
    kind: Kind::Bool,
    help: "",
};

fn no_arguments(parsed: &Parsed, command: Command) -> Result<Command> {
    match parsed.free() {
        [] => Ok(command),
        _ => Err(WrongArguments.into()),
    }
}

fn one_argument(parsed: &Parsed) -> Result<String> {
    match parsed.free() {
        [one] => Ok(one.clone()),
        _ => Err(WrongArguments.into()),
    }
}

impl Entry {
    /// The full help: usage, description, the command's options, then the global ones.
    pub fn help(&self) -> String {
        let mut out = format!(
            "Usage: {}\n\n{}\n\nOptions (-flag, -flag=value or -flag value):\n{}{}",
            self.usage.usage,
            self.usage.about,
            flags::help(self.usage.flags),
            flags::help(&[HELP]),
        );
        if self.remote {
            out.push_str(&super::target::help());
            out.push_str(
                "\nExit status: 0 on success, 1 on any error (the agent's status and message are \
                 printed).\n",
            );
        }
        out
    }

    /// Every flag this command parses: its own, the global ones if remote, and help.
    fn table(&self) -> Vec<Flag> {
        let mut table: Vec<Flag> = self.usage.flags.to_vec();
        if self.remote {
            table.extend(super::target::FLAGS.iter().map(|(flag, _)| flag.clone()));
        }
        table.extend([HELP, H]);
        table
    }

    /// Parse this command's arguments (after its words).
    fn parse(&self, args: &[String]) -> Result<Invocation> {
        let table = self.table();
        let parsed = if self.leading {
            flags::parse_leading(&table, args)
        } else {
            flags::parse(&table, args)
        };
        // Booleans were checked by the parse.
        let asked = |parsed: &Parsed| {
            parsed.bool("help").unwrap_or(false) || parsed.bool("h").unwrap_or(false)
        };
        let parsed = match parsed {
            Ok(parsed) if asked(&parsed) => return Ok(self.answer_help()),
            Ok(parsed) => parsed,
            // A help word among bad flags still only asks for help.
            Err(_) if self.help_word_among_flags(args) => return Ok(self.answer_help()),
            Err(err) => bail!("{err}\n\n{}", self.help()),
        };
        let target = if self.remote {
            Target::from_flags(&parsed)?
        } else {
            Target::default()
        };
        let command = (self.build)(&parsed).map_err(|err| {
            if err.is::<WrongArguments>() {
                anyhow::anyhow!("{err}\n\n{}", self.help())
            } else {
                err
            }
        })?;
        Ok(Invocation { command, target })
    }

    fn answer_help(&self) -> Invocation {
        text(self.help())
    }

    /// A help word where this command reads flags: anywhere, or before the first argument.
    fn help_word_among_flags(&self, args: &[String]) -> bool {
        let flags = args.iter().take_while(|a| *a != "--");
        let mut flags: Vec<&String> = flags.collect();
        if self.leading {
            let first_free = flags.iter().position(|a| !a.starts_with('-'));
            flags.truncate(first_free.unwrap_or(flags.len()));
        }
        flags.iter().any(|a| HELP_WORDS.contains(&a.as_str()))
    }
}

/// Parse a whole command line (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation> {
    let first = args.first().map(String::as_str);
    match first {
        None | Some("help") => return Ok(text(usage())),
        Some(word) if HELP_WORDS.contains(&word) => return Ok(text(usage())),
        Some("-version" | "--version" | "-v") => return parse(&["version".to_string()]),
        _ => {}
    }
    // The longest run of words that names a command.
    let entry = COMMANDS
        .iter()
        .filter(|e| args.len() >= e.words.len() && e.words.iter().eq(&args[..e.words.len()]))
        .max_by_key(|e| e.words.len());
    if let Some(entry) = entry {
        return entry.parse(&args[entry.words.len()..]);
    }
    // A group (`alloc`, `node meta`): list its commands.
    let group: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|w| !w.starts_with('-') && *w != "help")
        .collect();
    let mut prefix = group.as_slice();
    while !prefix.is_empty() && listing(prefix).is_empty() {
        prefix = &prefix[..prefix.len() - 1];
    }
    if prefix.is_empty() {
        bail!("unknown command {:?}\n\n{}", args[0], usage());
    }
    let listing = format!(
        "Usage: caravan {} <subcommand> [options]\n\nSubcommands:\n{}\n\
         Run `caravan {} <subcommand> -help` for its options.\n",
        prefix.join(" "),
        listing(prefix),
        prefix.join(" ")
    );
    match args.get(prefix.len()).map(String::as_str) {
        Some(word) if word == "help" || HELP_WORDS.contains(&word) => Ok(text(listing)),
        Some(other) => bail!(
            "unknown subcommand \"{} {other}\"\n\n{listing}",
            prefix.join(" ")
        ),
        None => bail!("{listing}"),
    }
}

/// Print `text`, talking to no agent.
fn text(text: String) -> Invocation {
    Invocation {
        command: Command::Text(text),
        target: Target::default(),
    }
}

/// The listed commands under `prefix` (all for none), one a line with their summary; empty
/// when no command starts with `prefix`.
fn listing(prefix: &[&str]) -> String {
    let entries: Vec<&Entry> = COMMANDS
        .iter()
        .filter(|e| !e.hidden && e.words.len() > prefix.len() && e.words.starts_with(prefix))
        .collect();
    let name = |e: &Entry| e.words[prefix.len()..].join(" ");
    let width = entries.iter().map(|e| name(e).len()).max().unwrap_or(0);
    entries
        .iter()
        .map(|e| format!("  {:width$}  {}\n", name(e), e.summary))
        .collect()
}

/// The top-level help: every command.
pub fn usage() -> String {
    format!(
        "Usage: caravan <command> [options]\n\nCommands:\n{}\n\
         Commands that talk to an agent use NOMAD_ADDR (default http://127.0.0.1:4646) and\n\
         NOMAD_TOKEN, or the global flags (-address, -token, -namespace, -region, the TLS\n\
         ones), as Nomad's CLI; allocations go by unique id prefix; -json is for scripts;\n\
         exit 0 on success, 1 on any error.\n\
         `caravan <command> -help` prints a command's options; `caravan version` the version.\n",
        listing(&[])
    )
}

#[cfg(test)]
mod tests;
