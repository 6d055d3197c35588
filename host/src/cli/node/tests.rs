//! Node tables and meta parsing.
use super::*;

fn parse_node(list: &[&str]) -> Result<Command> {
    let args: Vec<String> = ["node"].iter().chain(list).map(|s| s.to_string()).collect();
    super::super::parse(&args).map(|i| i.command)
}

#[test]
fn node_commands_parse() {
    assert!(matches!(
        parse_node(&["status"]).unwrap(),
        Command::Node(Node::Status(Status {
            node: None,
            this: false,
            ..
        }))
    ));
    assert!(matches!(
        parse_node(&["status", "-self", "-stats", "-json"]).unwrap(),
        Command::Node(Node::Status(Status {
            this: true,
            stats: true,
            json: true,
            ..
        }))
    ));
    assert!(parse_node(&["status", "-self", "abc"]).is_err());
    assert!(matches!(
        parse_node(&["meta", "read", "-json"]).unwrap(),
        Command::Node(Node::MetaRead {
            json: true,
            node_id: None
        })
    ));
    let Command::Node(Node::MetaApply { set, node_id }) = parse_node(&[
        "meta",
        "apply",
        "-unset",
        "x,y",
        "-node-id=n1",
        "a=1",
        "b=c=d",
        "e=",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(node_id.as_deref(), Some("n1"));
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        [
            ("a".to_string(), Some("1".to_string())),
            ("b".into(), Some("c=d".into())),
            ("e".into(), Some("".into())),
            ("x".into(), None),
            ("y".into(), None),
        ]
    );
    assert!(parse_node(&["meta", "apply", "novalue"]).is_err());
    assert!(parse_node(&["meta", "apply"]).is_err());
    assert!(parse_node(&["meta", "frob"]).is_err());
    assert!(matches!(
        parse_node(&["status", "-h"]).unwrap(),
        Command::Text(_)
    ));
    let parse_system = |list: &[&str]| {
        let args: Vec<String> = ["system"]
            .iter()
            .chain(list)
            .map(|s| s.to_string())
            .collect();
        super::super::parse(&args).map(|i| i.command)
    };
    assert!(matches!(
        parse_system(&["gc", "-node-id", "n"]).unwrap(),
        Command::Node(Node::Gc { node_id: Some(ref n) }) if n == "n"
    ));
    assert!(parse_system(&["frob"]).is_err());
}

#[test]
fn meta_sections() {
    let meta = json!({"Meta": {"b": "2", "a": "1"}, "Dynamic": {"a": "1", "gone": null},
        "Static": {}});
    assert_eq!(
        format_meta(&meta),
        "All Meta\na = 1\nb = 2\n\nDynamic Meta\na    = 1\ngone = <unset>\n\nStatic Meta\n<none>\n"
    );
}

#[test]
fn nodes_by_prefix_or_address() {
    let nodes = vec![
        json!({"ID": "aaaa1111-0000", "HTTPAddr": "127.0.0.1:1", "Name": "a", "NodePool": "default",
            "Datacenter": "dc1", "NodeClass": "", "Drain": false,
            "SchedulingEligibility": "eligible", "Status": "ready"}),
        json!({"ID": "aaaa2222-0000", "HTTPAddr": "127.0.0.1:2", "Name": "b"}),
    ];
    assert_eq!(pick_node(&nodes, Some("aaaa1"), "x").unwrap()["Name"], "a");
    assert_eq!(pick_node(&nodes, None, "127.0.0.1:2").unwrap()["Name"], "b");
    let err = pick_node(&nodes, Some("aaaa"), "x")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("Prefix matched multiple nodes"), "{err}");
    assert!(pick_node(&nodes, None, "elsewhere:1").is_err());
    assert!(pick_node(&nodes, Some("b"), "x").is_err());
    assert_eq!(
        format_nodes(&nodes[..1], false),
        "ID        Node Pool  DC   Name  Class   Drain  Eligibility  Status\n\
         aaaa1111  default    dc1  a     <none>  false  eligible     ready\n"
    );
}
