//! What a core must pass before it serves, and the call deadline.

use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::sandbox::engine_config;
use super::*;

#[test]
fn the_core_imports_nothing_but_caravan_interfaces() {
    let engine = Engine::new(&engine_config()).unwrap();
    let component = Component::new(&engine, DEFAULT_CORE).unwrap();
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    println!(
        "core component: {} bytes, imports {imports:?}",
        DEFAULT_CORE.len()
    );
    assert!(
        imports
            .iter()
            .any(|name| name == "caravan:client/filesystem@0.1.0")
    );
    for name in &imports {
        assert!(
            name.starts_with("caravan:client/") && name.ends_with("@0.1.0"),
            "the core imports {name}, which is not part of caravan's contract"
        );
    }
    let exports: Vec<String> = ty
        .exports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(exports, ["caravan:client/handler@0.1.0"]);
}

fn sandbox(dir: &std::path::Path, call_timeout: Duration) -> Sandbox {
    let ctx = crate::capabilities::HostContext::scratch(dir).unwrap();
    let options = RuntimeOptions {
        call_timeout,
        cache_dir: None,
    };
    Sandbox::new(ctx, &options).unwrap()
}

/// The same component with a custom section appended: valid, different bytes.
fn with_custom_section(core: &[u8]) -> Vec<u8> {
    let mut bytes = core.to_vec();
    bytes.extend_from_slice(&[0, 6, 5]);
    bytes.extend_from_slice(b"hello");
    bytes
}

fn reason(sandbox: &Sandbox, bytes: &[u8]) -> String {
    match sandbox.prepare(bytes) {
        Ok(core) => panic!("core {} was accepted", core.version),
        Err(rejection) => rejection.reason,
    }
}

#[test]
fn every_check_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox(dir.path(), DEFAULT_CALL_TIMEOUT);
    let core = sandbox.prepare(DEFAULT_CORE).unwrap();
    assert!(core.version.starts_with("caravan-core/"));
    let variant = sandbox.prepare(&with_custom_section(DEFAULT_CORE)).unwrap();
    assert_eq!(variant.version, core.version);
    assert_ne!(variant.sha256, core.sha256);

    assert_eq!(
        reason(&sandbox, b"hello"),
        "not WebAssembly (no \\0asm header)"
    );
    assert!(reason(&sandbox, b"\0asm\x01\0\0\0").starts_with("a core wasm module"));
    assert!(
        reason(&sandbox, b"\0asm\x0d\0\x01\0")
            .starts_with("does not export caravan:client/handler")
    );
    // A component importing a function `x` that the host does not provide.
    let imports_x = b"\0asm\x0d\0\x01\0\x07\x05\x01\x40\x00\x01\x00\x0a\x06\x01\x00\x01x\x01\x00";
    assert!(
        reason(&sandbox, imports_x).starts_with("does not fit the host's caravan:client world")
    );
    let truncated = &DEFAULT_CORE[..DEFAULT_CORE.len() / 2];
    assert!(reason(&sandbox, truncated).starts_with("not a valid wasm component"));
    assert!(reason(&sandbox, START_TRAP_TEST_CORE).starts_with("failed to start"));
    assert_eq!(
        reason(&sandbox, FAULTY_TEST_CORE),
        "failed the self-check: GET /v1/caravan/self-check/unknown-route: \
         expected 404 with an empty body, got 200 \"ok\""
    );
}

#[test]
fn the_call_deadline_stops_a_looping_core_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox(dir.path(), Duration::from_millis(200));
    let faulty = sandbox.load(FAULTY_TEST_CORE).unwrap();
    let request = |path: &str| types::Request {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let started = Instant::now();
    let Err(err) = sandbox.handle(&faulty, &request("/loop")) else {
        panic!("the looping core answered");
    };
    let took = started.elapsed();
    assert!(
        err.to_string()
            .contains("stopped at the call deadline (200ms)"),
        "{err:#}"
    );
    // Not stopped before the deadline (less at most one epoch tick, which may come early
    // for the first). A lower bound only: a slower machine makes the call take longer,
    // never shorter, so load cannot fail it. How much longer is not this test's business.
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(sandbox.handle(&faulty, &request("/grow")).is_err());
    assert!(matches!(
        sandbox.handle(&faulty, &request("/ok")).unwrap().0,
        handler::Action::Respond(r) if r.status == 200
    ));
}
