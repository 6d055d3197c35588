//! The command table: every command's `-help` answers with its usage and nothing else.
use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn line(entry: &Entry, after: &[&str]) -> Vec<String> {
    let mut all: Vec<&str> = entry.words.to_vec();
    all.extend_from_slice(after);
    args(&all)
}

/// Help for every command, every spelling, wherever flags are read: the command is never
/// built, so it cannot act (`acl bootstrap -help` used to bootstrap, `core swap -help` to
/// read a file named `-help`, `agent -help` was an unknown flag).
#[test]
fn every_command_answers_help_and_nothing_else() {
    for entry in COMMANDS {
        let help = entry.help();
        assert!(
            help.starts_with(&format!("Usage: caravan {}", entry.words.join(" "))),
            "{help}"
        );
        for word in HELP_WORDS {
            for after in [
                vec![word],
                vec![word, "x"],
                vec!["-bogus", word],
                vec![word, "-bogus=1"],
                vec!["-help=true"],
            ] {
                let line = line(entry, &after);
                match parse(&line) {
                    Ok(Command::Text(text)) => assert_eq!(text, help, "{line:?}"),
                    other => panic!("{line:?} is not help: {other:?}"),
                }
            }
        }
        if !entry.leading {
            // Flags may follow the arguments (the word after it is not a value either).
            let line = line(entry, &["x", "-help", "y"]);
            assert!(
                matches!(parse(&line), Ok(Command::Text(ref t)) if *t == help),
                "{line:?}"
            );
        }
        // `-help=false` does not ask for help.
        assert!(
            !matches!(parse(&line(entry, &["-help=false"])), Ok(Command::Text(_))),
            "{:?}",
            entry.words
        );
    }
}

/// After the allocation, `alloc exec`'s arguments are the command's own, `-help` included.
#[test]
fn exec_passes_help_to_its_command() {
    let Command::Alloc(alloc::Alloc::Exec(exec)) =
        parse(&args(&["alloc", "exec", "ab", "sh", "-help"])).unwrap()
    else {
        panic!()
    };
    assert_eq!(exec.command, ["sh", "-help"]);
}

/// Each command's help names each of its flags once, from its table; the listings name
/// every command that is not hidden.
#[test]
fn helps_and_listings_come_from_the_table() {
    let top = usage();
    for entry in COMMANDS {
        let help = entry.help();
        for flag in entry.usage.flags.iter().chain([&HELP]) {
            let usage = match flag.kind {
                Kind::Bool => format!("  -{}", flag.name),
                Kind::Value(hint) | Kind::Repeated(hint) => format!("  -{}=<{hint}>", flag.name),
            };
            let count = help
                .lines()
                .filter(|l| *l == usage || l.starts_with(&format!("{usage} ")))
                .count();
            assert_eq!(count, 1, "{usage} in\n{help}");
        }
        let named = format!("  {} ", entry.words.join(" "));
        assert_eq!(top.contains(&named), !entry.hidden, "{named:?} in\n{top}");
    }
    for group in [
        &["alloc"][..],
        &["node"],
        &["node", "meta"],
        &["acl"],
        &["core"],
    ] {
        for word in HELP_WORDS.iter().chain(&["help"]) {
            let mut line = group.to_vec();
            line.push(word);
            let Ok(Command::Text(list)) = parse(&args(&line)) else {
                panic!("{line:?} is not a listing")
            };
            assert!(
                list.starts_with(&format!("Usage: caravan {} <subcommand>", group.join(" "))),
                "{list}"
            );
            for entry in COMMANDS.iter().filter(|e| e.words.starts_with(group)) {
                let sub = entry.words[group.len()..].join(" ");
                assert!(list.contains(&format!("  {sub} ")), "{sub} in\n{list}");
            }
        }
    }
    for line in [&[][..], &["help"], &["-h"], &["--help"], &["-help"]] {
        assert!(matches!(parse(&args(line)), Ok(Command::Text(t)) if t == top));
    }
}

#[test]
fn unknown_or_incomplete_commands_fail_with_a_listing() {
    for (line, says) in [
        (&["alloc"][..], "Usage: caravan alloc <subcommand>"),
        (
            &["alloc", "frob", "ab"],
            "unknown subcommand \"alloc frob\"",
        ),
        (&["node", "meta"], "Usage: caravan node meta <subcommand>"),
        (&["frob"], "unknown command \"frob\""),
        (&["core", "check"], "This command takes other arguments"),
        (
            &["acl", "bootstrap", "x"],
            "This command takes other arguments",
        ),
        (&["alloc", "logs", "-bogus", "ab"], "unknown flag -bogus"),
    ] {
        let err = format!("{:#}", parse(&args(line)).unwrap_err());
        assert!(err.contains(says), "{line:?}: {err}");
    }
    for version in ["version", "-version", "--version", "-v"] {
        assert!(matches!(parse(&args(&[version])), Ok(Command::Version)));
    }
}
