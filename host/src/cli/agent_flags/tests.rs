use super::*;

fn parse(args: &[String]) -> Result<Command> {
    crate::cli::parse(args).map(|i| i.command)
}
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
    let Command::Agent(o) = parse(&args(&["agent", "-core-call-timeout=250ms"])).unwrap() else {
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
