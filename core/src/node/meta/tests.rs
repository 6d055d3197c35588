use super::*;

fn statics() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("rack".to_string(), "r1".to_string()),
        ("zone".to_string(), "a".to_string()),
    ])
}

#[test]
fn decode_accepts_any_case_and_ignores_unknown_fields() {
    let req = decode_apply(br#"{"nodeid":"n1","META":{"a":"1","b":null},"Region":"x"}"#).unwrap();
    assert_eq!(req.node_id, "n1");
    assert_eq!(
        req.meta.unwrap(),
        BTreeMap::from([
            ("a".to_string(), Some("1".to_string())),
            ("b".to_string(), None)
        ])
    );
}

#[test]
fn decode_errors_use_go_texts() {
    assert_eq!(
        decode_apply(b"").unwrap_err().message,
        "Request body is empty"
    );
    assert_eq!(
        decode_apply(br#"{"Meta":{"a":1}}"#).unwrap_err().message,
        "json: cannot unmarshal number into Go struct field NodeMetaApplyRequest.Meta of type string"
    );
    assert_eq!(
        decode_apply(b"[1]").unwrap_err().message,
        "json: cannot unmarshal array into Go value of type structs.NodeMetaApplyRequest"
    );
    assert_eq!(
        decode_apply(b"{").unwrap_err().message,
        "unexpected end of JSON input"
    );
    assert_eq!(decode_apply(b"{x").unwrap_err().status, 400);
}

#[test]
fn validation_matches_nomad() {
    let ok = |k: &str| validate(Some(&BTreeMap::from([(k.to_string(), None)]))).map(|_| ());
    for key in ["a.b", "_x", "a-b", "é.ü", "a1"] {
        assert!(ok(key).is_ok(), "{key}");
    }
    for key in ["1a", "-a", "a.", "*", "a b", ".a"] {
        assert_eq!(
            ok(key).unwrap_err().message,
            format!("\"{key}\" is invalid; metadata keys must be valid dotted hcl identifiers")
        );
    }
    assert_eq!(
        ok("").unwrap_err().message,
        "metadata keys must not be empty"
    );
    assert_eq!(
        validate(None).unwrap_err().message,
        "missing required Meta object"
    );
    assert_eq!(
        validate(Some(&BTreeMap::new())).unwrap_err().message,
        "missing required Meta object"
    );
}

#[test]
fn null_tombstones_static_keys_and_removes_others() {
    let request = BTreeMap::from([
        ("rack".to_string(), None),
        ("gone".to_string(), None),
        ("new".to_string(), Some("v".to_string())),
    ]);
    assert_eq!(
        plan(&statics(), &request),
        vec![
            ("gone".to_string(), MetaOp::Remove),
            ("new".to_string(), MetaOp::Set("v".into())),
            ("rack".to_string(), MetaOp::Tombstone),
        ]
    );
}

#[test]
fn merge_and_visibility() {
    let dynamic = BTreeMap::from([
        ("rack".to_string(), None),
        ("zone".to_string(), Some("b".to_string())),
        ("stale".to_string(), None),
    ]);
    assert_eq!(
        merged(&statics(), &dynamic),
        BTreeMap::from([("zone", "b")])
    );
    assert_eq!(
        visible_dynamic(&statics(), &dynamic),
        [("rack", None), ("zone", Some("b"))]
    );
}

#[test]
fn merge_interleaves_keys_in_order_and_dynamic_wins() {
    let statics = BTreeMap::from([
        ("b".to_string(), "static-b".to_string()),
        ("d".to_string(), "static-d".to_string()),
        ("f".to_string(), "static-f".to_string()),
    ]);
    let dynamic = BTreeMap::from([
        ("a".to_string(), Some("dyn-a".to_string())),
        ("b".to_string(), Some("dyn-b".to_string())),
        ("c".to_string(), None),
        ("d".to_string(), None),
        ("g".to_string(), Some("dyn-g".to_string())),
    ]);
    assert_eq!(
        merged(&statics, &dynamic),
        BTreeMap::from([
            ("a", "dyn-a"),
            ("b", "dyn-b"),
            ("f", "static-f"),
            ("g", "dyn-g")
        ])
    );
    assert_eq!(merged(&statics, &DynamicMeta::new()).len(), 3);
    assert_eq!(merged(&BTreeMap::new(), &dynamic).len(), 3);
}
