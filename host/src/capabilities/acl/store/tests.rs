use super::*;

fn policy(name: &str) -> CompiledPolicy {
    CompiledPolicy {
        name: name.into(),
        namespaces: Vec::new(),
        node: None,
        agent: None,
    }
}

#[test]
fn reload_keeps_the_previous_version_of_a_broken_policy_and_expires_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let state =
        std::sync::Arc::new(crate::store::StateStore::open(&dir.path().join("state")).unwrap());
    let store = AclStore::open(dir.path(), true, ApiAcl::local(state)).unwrap();
    let compile = |name: &str, text: &str| {
        if text.contains("broken") {
            Err("bad".to_string())
        } else {
            Ok(policy(name))
        }
    };
    std::fs::write(dir.path().join("policies/ops.hcl"), "fine").unwrap();
    let token = |secret: &str, expires: &str| {
        format!(
            r#"{{"AccessorID":"a-{secret}","SecretID":"{secret}","Type":"client","Policies":["ops"],"ExpirationTime":"{expires}"}}"#
        )
    };
    std::fs::write(
        dir.path().join("tokens/live.json"),
        token("live", "2999-01-01T00:00:00Z"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tokens/old.json"),
        token("old", "2001-01-01T00:00:00Z"),
    )
    .unwrap();
    store.reload(compile);
    assert_eq!(store.policies(&["ops".into(), "nope".into()]).len(), 1);
    std::fs::write(dir.path().join("policies/ops.hcl"), "broken").unwrap();
    store.reload(compile);
    assert_eq!(
        store.policies(&["ops".into()]).len(),
        1,
        "the previous version stays in force"
    );
    assert_eq!(
        store.resolve("live").unwrap().policies,
        vec!["ops".to_string()]
    );
    assert_eq!(store.resolve("old").unwrap_err(), ResolveError::Expired);
    assert_eq!(store.resolve("nope").unwrap_err(), ResolveError::NotFound);
    let (_, secret) = store.bootstrap().unwrap().unwrap();
    assert!(store.bootstrap().unwrap().is_none(), "bootstrap works once");
    assert_eq!(
        store.resolve(&secret).unwrap().token_type,
        TokenType::Management
    );
}
