//! The command table: every command's `-help` answers with its usage and nothing else.
use super::*;

fn parse(args: &[String]) -> Result<Command> {
    super::parse(args).map(|i| i.command)
}

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

/// Nomad's global flags on every command that talks to an agent, anywhere among its flags,
/// each overriding its NOMAD_* variable; commands that talk to none refuse them.
#[test]
fn global_flags_override_the_environment() {
    let given = args(&[
        "alloc",
        "status",
        "-address=https://10.0.0.9:4646",
        "ab",
        "-token",
        "s3cret",
        "-namespace=prod",
        "-region",
        "eu",
        "-tls-skip-verify",
        "-tls-server-name=server.global.nomad",
    ]);
    let invocation = super::parse(&given).unwrap();
    assert!(matches!(
        invocation.command,
        Command::Alloc(alloc::Alloc::Status(ref s)) if s.alloc == "ab"
    ));
    let target = invocation.target;
    for (var, value) in [
        ("NOMAD_ADDR", "https://10.0.0.9:4646"),
        ("NOMAD_TOKEN", "s3cret"),
        ("NOMAD_NAMESPACE", "prod"),
        ("NOMAD_REGION", "eu"),
        ("NOMAD_SKIP_VERIFY", "true"),
        ("NOMAD_TLS_SERVER_NAME", "server.global.nomad"),
    ] {
        assert_eq!(target.var(var).as_deref(), Some(value), "{var}");
    }
    let agent = target.agent().unwrap();
    assert_eq!(agent.host, "10.0.0.9:4646");
    assert_eq!(agent.token.as_deref(), Some("s3cret"));
    assert_eq!(agent.namespace.as_deref(), Some("prod"));
    assert_eq!(agent.target("/v1/x"), "/v1/x?region=eu");
    assert!(agent.tls.is_some());
    // -tls-skip-verify=false overrides NOMAD_SKIP_VERIFY=true.
    let off = super::parse(&args(&["node", "status", "-tls-skip-verify=false"])).unwrap();
    assert_eq!(
        off.target.var("NOMAD_SKIP_VERIFY").as_deref(),
        Some("false")
    );
    // Every remote command takes them; the others do not.
    for entry in COMMANDS {
        let line = line(entry, &["-address=http://127.0.0.1:1", "-help"]);
        assert!(matches!(parse(&line), Ok(Command::Text(_))), "{line:?}");
        let help = entry.help();
        for (flag, var) in super::super::target::FLAGS {
            assert_eq!(
                help.contains(&format!("  -{}", flag.name)),
                entry.remote,
                "{:?} -{}",
                entry.words,
                flag.name
            );
            assert!(flag.help.contains(var), "-{} names {var}", flag.name);
        }
    }
    let err = parse(&args(&["core", "check", "-address=http://x:1", "f.wasm"])).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown flag -address"),
        "{err:#}"
    );
    let bare = super::parse(&args(&["alloc", "status", "-address=10.0.0.1:1", "ab"])).unwrap();
    let err = bare.target.agent().unwrap_err();
    assert!(
        format!("{err:#}").contains("-address or NOMAD_ADDR"),
        "{err:#}"
    );
}
