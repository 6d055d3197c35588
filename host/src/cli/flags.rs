//! Flags in Nomad's (Go's `flag` package) style, from one table that both parses and prints
//! the help: `-flag`, `--flag`, `-flag=value` and `-flag value`; a boolean flag takes only an
//! inline value (`-flag=false`) and never the next argument, so `-dev 1` is an error, as in
//! Nomad. A flag given twice keeps its last value, except the repeatable ones.
//!
//! Parsing is `getopts` in `long_only` mode: a boolean flag is an option whose argument is
//! optional (getopts never takes the next argument for those), a valued flag one whose
//! argument is required.

use anyhow::{Result, bail};
use getopts::{HasArg, Occur, Options};

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-flag`, `-flag=true`, `-flag=false` (also `1`, `0`, `t`, `f`, as Go's `strconv.ParseBool`).
    Bool,
    /// `-flag=<hint>` or `-flag <hint>`; the last one given wins.
    Value(&'static str),
    /// Like `Value`, but every occurrence counts.
    Repeated(&'static str),
}

/// One row of a command's flag table.
#[derive(Debug, Clone)]
pub struct Flag {
    /// The name, without its dash.
    pub name: &'static str,
    /// Whether it takes a value, and how many times.
    pub kind: Kind,
    /// The help text; more lines may follow a `\n`.
    pub help: &'static str,
}

/// What a command line said: each flag's values in order, and the arguments left over.
pub struct Parsed {
    matches: getopts::Matches,
}

impl Parsed {
    /// A boolean flag's value: the last occurrence wins; absent is `false`.
    pub fn bool(&self, name: &str) -> Result<bool> {
        let given = self.matches.opt_positions(name);
        let Some(&last) = given.iter().max() else {
            return Ok(false);
        };
        match self
            .matches
            .opt_strs_pos(name)
            .into_iter()
            .find(|(pos, _)| *pos == last)
        {
            Some((_, value)) => parse_bool(name, &value),
            None => Ok(true),
        }
    }

    /// Whether the flag was given at all.
    pub fn given(&self, name: &str) -> bool {
        self.matches.opt_present(name)
    }

    /// A valued flag's last value, if given.
    pub fn value(&self, name: &str) -> Option<String> {
        self.matches.opt_strs(name).pop()
    }

    /// Every value of a repeatable flag, in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.matches.opt_strs(name)
    }

    /// Arguments that are not flags.
    pub fn free(&self) -> &[String] {
        &self.matches.free
    }
}

/// Parse `args` against `table`.
pub fn parse(table: &[Flag], args: &[String]) -> Result<Parsed> {
    parse_with(table, args, false)
}

/// Parse the flags before the first other argument; the rest are left as they are (`alloc
/// exec ALLOC sh -c …`, whose command has flags of its own).
pub fn parse_leading(table: &[Flag], args: &[String]) -> Result<Parsed> {
    parse_with(table, args, true)
}

fn parse_with(table: &[Flag], args: &[String], leading: bool) -> Result<Parsed> {
    let mut options = Options::new();
    options.long_only(true);
    if leading {
        options.parsing_style(getopts::ParsingStyle::StopAtFirstFree);
    }
    for flag in table {
        let (hint, has_arg) = match flag.kind {
            Kind::Bool => ("BOOL", HasArg::Maybe),
            Kind::Value(hint) | Kind::Repeated(hint) => (hint, HasArg::Yes),
        };
        // getopts keeps one-letter names (`-f`, `-n`) as short options; in `long_only` mode
        // `-f`, `-f=true` and `-n 5` parse the same as for long ones.
        let (short, long) = if flag.name.len() == 1 {
            (flag.name, "")
        } else {
            ("", flag.name)
        };
        options.opt(short, long, flag.help, hint, has_arg, Occur::Multi);
    }
    let matches = options.parse(args).map_err(|err| match err {
        getopts::Fail::UnrecognizedOption(name) => anyhow::anyhow!("unknown flag -{name}"),
        getopts::Fail::ArgumentMissing(name) => anyhow::anyhow!("flag -{name} needs a value"),
        other => anyhow::anyhow!("{other}"),
    })?;
    let parsed = Parsed { matches };
    // Booleans are checked now, so a bad one is reported even if nobody asks for it.
    for flag in table.iter().filter(|f| f.kind == Kind::Bool) {
        parsed.bool(flag.name)?;
    }
    Ok(parsed)
}

/// The help lines of `table`, aligned, in its order.
pub fn help(table: &[Flag]) -> String {
    const COLUMN: usize = 23;
    let mut out = String::new();
    for flag in table {
        let usage = match flag.kind {
            Kind::Bool => format!("  -{}", flag.name),
            Kind::Value(hint) | Kind::Repeated(hint) => format!("  -{}=<{hint}>", flag.name),
        };
        let mut lines = flag.help.lines();
        if usage.len() < COLUMN {
            out.push_str(&format!(
                "{usage:<COLUMN$}{}\n",
                lines.next().unwrap_or_default()
            ));
        } else {
            out.push_str(&format!("{usage}\n"));
        }
        for line in lines {
            out.push_str(&format!("{:COLUMN$}{line}\n", ""));
        }
    }
    out
}

/// Go's `strconv.ParseBool`, which Nomad's boolean flags use.
fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => bail!("invalid boolean value {value:?} for -{name}"),
    }
}

/// What a command's `build` returns for arguments it does not take; reported with its help.
#[derive(Debug)]
pub struct WrongArguments;

impl std::fmt::Display for WrongArguments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("This command takes other arguments")
    }
}

impl std::error::Error for WrongArguments {}
