//! Running a vector on wasmtime or natively, and comparing what came back.

use super::*;

pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) pre: CorePre<MemHost>,
}

/// The component is compiled once; every vector gets its own store and instance.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("engine");
        let component =
            Component::new(&engine, caravan::runtime::DEFAULT_CORE).expect("the core compiles");
        let mut linker = Linker::new(&engine);
        Core::add_to_linker::<MemHost, HasSelf<MemHost>>(&mut linker, |host| host)
            .expect("link the in-memory host");
        let pre = CorePre::new(linker.instantiate_pre(&component).expect("instantiate_pre"))
            .expect("the core exports the handler");
        Runtime { engine, pre }
    })
}

/// A loaded vector file: its fixture and its vectors (kept as JSON so tests can change them).
pub(crate) struct Suite {
    pub(crate) file: String,
    pub(crate) fixture: Fixture,
    pub(crate) vectors: Vec<Value>,
}

pub(crate) fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

pub(crate) fn suites() -> Vec<Suite> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: VectorFile =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Suite {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                fixture: parsed.fixture,
                vectors: parsed.vectors,
            }
        })
        .collect()
}

/// Where a vector runs: the component on wasmtime, or the same core crate linked natively
/// (the benchmarks' baseline, `caravan agent -core native`), both over the same in-memory host.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Wasm,
    Native,
}

/// Run one vector; `Err` says what differed.
pub(crate) fn run(target: Target, fixture: &Fixture, vector: &Value) -> Result<(), String> {
    let vector: Vector =
        serde_json::from_value(vector.clone()).map_err(|e| format!("malformed vector: {e}"))?;
    match target {
        Target::Wasm => run_wasm(fixture, &vector),
        Target::Native => run_native(fixture, &vector),
    }
}

pub(crate) fn run_wasm(fixture: &Fixture, vector: &Vector) -> Result<(), String> {
    let rt = runtime();
    let mut store = Store::new(&rt.engine, MemHost::new(fixture));
    let core = rt.pre.instantiate(&mut store).map_err(|e| e.to_string())?;
    let handler = core.caravan_client_handler();
    for (name, text) in &fixture.acl.policies {
        let compiled = handler
            .call_compile_policy(&mut store, name, text)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("fixture policy {name} does not compile: {e}"))?;
        store.data_mut().compiled.push(compiled);
    }
    if let Some(source) = &vector.compile_policy {
        let result = handler
            .call_compile_policy(&mut store, &source.name, &source.text)
            .map_err(|e| e.to_string())?;
        check_policy(result, &vector.expect)?;
        return check_state(store.data(), &vector.expect);
    }
    let action = handler
        .call_handle(&mut store, &request(vector)?)
        .map_err(|e| format!("trap: {e:#}"))?;
    let (outcome, body) = match action {
        handler::Action::Respond(r) => (Outcome::Respond(r), None),
        handler::Action::SendFile(s) => (Outcome::SendFile(s), None),
        handler::Action::Stream(start) => (
            Outcome::Stream {
                status: start.status,
                headers: start.headers,
            },
            Some(start.body),
        ),
        // The fixture knows no other node: nothing is ever elsewhere.
        handler::Action::Forward(to) => {
            return Err(format!("forwarded to node {}", to.node_id));
        }
        handler::Action::Exec(e) => (Outcome::Exec(e), None),
    };
    let Some(body) = body else {
        check_outcome(outcome, vector, |_| Err("not a stream".into()))?;
        return check_state(store.data(), &vector.expect);
    };
    let streams = core.caravan_client_handler().body_stream();
    let result = check_outcome(outcome, vector, |pull| match pull {
        Pull::At(now) => streams
            .call_next(&mut store, body, now)
            .map_err(|e| format!("trap: {e:#}")),
        Pull::Change(step) => store.data_mut().change(step).map(|()| handler::Step::End),
    });
    body.resource_drop(&mut store).map_err(|e| e.to_string())?;
    result?;
    if store.data().live_subscriptions != 0 {
        return Err("dropping the body did not drop its subscriptions".into());
    }
    if !store.data().listings.is_empty() {
        return Err("the core left a directory listing open".into());
    }
    check_state(store.data(), &vector.expect)
}

pub(crate) fn run_native(fixture: &Fixture, vector: &Vector) -> Result<(), String> {
    use caravan::runtime::native::NativeHost;
    let host = NativeHost::new(MemHost::new(fixture));
    for (name, text) in &fixture.acl.policies {
        let compiled = caravan_core::acl::compile(name, text)
            .map_err(|e| format!("fixture policy {name} does not compile: {e}"))?;
        host.state().compiled.push(wit_policy(compiled));
    }
    if let Some(source) = &vector.compile_policy {
        let result = caravan_core::acl::compile(&source.name, &source.text).map(wit_policy);
        check_policy(result, &vector.expect)?;
        return check_state(&host.state(), &vector.expect);
    }
    let action = caravan_core::handle(&host, &(&request(vector)?).into());
    match action {
        caravan_core::http::Action::Forward(to) => {
            return Err(format!("forwarded to node {}", to.node_id));
        }
        caravan_core::http::Action::Respond(r) => {
            check_outcome(Outcome::Respond(r.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::SendFile(s) => {
            check_outcome(Outcome::SendFile(s.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::Exec(e) => {
            check_outcome(Outcome::Exec(e.into()), vector, |_| {
                Err("not a stream".into())
            })?;
        }
        caravan_core::http::Action::Stream(start) => {
            let mut body = start.body;
            let outcome = Outcome::Stream {
                status: start.status,
                headers: start
                    .headers
                    .into_iter()
                    .map(|(name, value)| types::Pair { name, value })
                    .collect(),
            };
            check_outcome(outcome, vector, |pull| match pull {
                Pull::At(now) => Ok(body.next(&host, now).into()),
                Pull::Change(step) => host.state().change(step).map(|()| handler::Step::End),
            })?;
        }
    }
    check_state(&host.state(), &vector.expect)
}

/// The core's compiled policy as the `policy` interface carries it.
pub(crate) fn wit_policy(p: caravan_core::acl::CompiledPolicy) -> policy::CompiledPolicy {
    let disposition = |d: caravan_core::acl::Disposition| match d {
        caravan_core::acl::Disposition::Deny => policy::Disposition::Deny,
        caravan_core::acl::Disposition::Read => policy::Disposition::Read,
        caravan_core::acl::Disposition::Write => policy::Disposition::Write,
    };
    policy::CompiledPolicy {
        name: p.name,
        namespaces: p
            .namespaces
            .into_iter()
            .map(|r| policy::NamespaceRule {
                pattern: r.pattern,
                capabilities: r.capabilities,
            })
            .collect(),
        node: p.node.map(disposition),
        agent: p.agent.map(disposition),
    }
}

pub(crate) fn request(vector: &Vector) -> Result<types::Request, String> {
    let spec = vector
        .request
        .as_ref()
        .ok_or("a vector needs a request or compile_policy")?;
    Ok(types::Request {
        method: spec.method.clone(),
        path: spec.path.clone(),
        query: spec.query.clone(),
        headers: spec
            .headers
            .iter()
            .map(|(name, value)| types::Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        body: match (&spec.body, &spec.body_base64) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(b64)) => decode(b64)?,
            (None, None) => Vec::new(),
            _ => return Err("request: body and body_base64 are exclusive".into()),
        },
    })
}

pub(crate) fn decode(b64: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64 {b64:?}: {e}"))
}

/// What `handle` decided, whichever target decided it; a stream's body is pulled separately.
pub(crate) enum Outcome {
    Respond(types::Response),
    SendFile(handler::SendFile),
    Exec(handler::ExecRequest),
    Stream {
        status: u16,
        headers: Vec<types::Pair>,
    },
}

/// One scripted step of a stream: pull at this time, or change the files.
pub(crate) enum Pull<'a> {
    At(u64),
    Change(&'a StepSpec),
}

/// Compare an outcome with the vector; for a stream, run the steps through `pull`.
pub(crate) fn check_outcome(
    outcome: Outcome,
    vector: &Vector,
    mut pull: impl FnMut(Pull<'_>) -> Result<handler::Step, String>,
) -> Result<(), String> {
    let expect = &vector.expect;
    match outcome {
        Outcome::Respond(r) => {
            let want = expect
                .respond
                .as_ref()
                .ok_or_else(|| format!("unexpected response: {}", describe(&r)))?;
            check_response(want, &r)
        }
        Outcome::SendFile(s) => {
            let want = expect
                .send_file
                .as_ref()
                .ok_or_else(|| format!("unexpected send-file of {:?}", s.path))?;
            same("alloc_id", want.alloc_id.as_str(), s.alloc_id.as_str())?;
            same("path", want.path.as_str(), s.path.as_str())?;
            same("offset", want.offset, s.offset)?;
            same("limit", want.limit, s.limit)?;
            same_headers(&want.headers, &s.headers)?;
            match &want.vanished {
                Some(vanished) => {
                    check_response(vanished, &s.vanished).map_err(|e| format!("vanished: {e}"))
                }
                None => Ok(()),
            }
        }
        Outcome::Exec(e) => {
            let want = expect
                .exec
                .as_ref()
                .ok_or_else(|| format!("unexpected exec of {:?}", e.command))?;
            same("alloc_id", want.alloc_id.as_str(), e.alloc_id.as_str())?;
            same("task", want.task.as_str(), e.task.as_str())?;
            same("command", &want.command, &e.command)?;
            same("tty", want.tty, e.tty)?;
            check_response(&want.not_running, &e.not_running)
                .map_err(|e| format!("not_running: {e}"))
        }
        Outcome::Stream { status, headers } => {
            let want = expect
                .stream
                .as_ref()
                .ok_or_else(|| format!("unexpected stream with status {status}"))?;
            same("status", want.status, status)?;
            same_headers(&want.headers, &headers)?;
            for (i, step) in vector.steps.iter().enumerate() {
                let Some(now) = step.pull else {
                    pull(Pull::Change(step))?;
                    continue;
                };
                let want = step.expect.as_ref().ok_or("a pull needs an expect")?;
                let got = pull(Pull::At(now)).map_err(|e| format!("step {i}: {e}"))?;
                check_step(want, &got).map_err(|e| format!("step {i} (pull at {now} ms): {e}"))?;
            }
            Ok(())
        }
    }
}

pub(crate) fn check_response(want: &ExpectResponse, r: &types::Response) -> Result<(), String> {
    same("status", want.status, r.status)?;
    same_headers(&want.headers, &r.headers)?;
    let body = match (&want.body, &want.body_base64) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(b64)) => decode(b64)?,
        _ => return Err("expect.respond needs exactly one of body, body_base64".into()),
    };
    same_bytes("body", &body, &r.body)
}

pub(crate) fn check_step(want: &Value, got: &handler::Step) -> Result<(), String> {
    let shown = match got {
        handler::Step::Data(d) => format!("data {:?}", String::from_utf8_lossy(d)),
        handler::Step::Wait(ms) => format!("wait {ms}"),
        handler::Step::End => "end".into(),
    };
    let matches = match (want, got) {
        (Value::String(s), handler::Step::End) => s == "end",
        (Value::Object(o), handler::Step::Data(d)) if o.len() == 1 => {
            if let Some(Value::String(text)) = o.get("data") {
                text.as_bytes() == d.as_slice()
            } else if let Some(Value::String(b64)) = o.get("data_base64") {
                decode(b64)? == *d
            } else {
                false
            }
        }
        (Value::Object(o), handler::Step::Wait(ms)) if o.len() == 1 => {
            o.get("wait").and_then(Value::as_u64) == Some(u64::from(*ms))
        }
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(format!("expected {want}, got {shown}"))
    }
}

pub(crate) fn check_policy(
    result: Result<policy::CompiledPolicy, String>,
    expect: &Expect,
) -> Result<(), String> {
    match (result, &expect.compiled, &expect.error) {
        (Ok(p), Some(want), None) => {
            same("name", want.name.as_str(), p.name.as_str())?;
            let rules: Vec<(String, Vec<String>)> = p
                .namespaces
                .into_iter()
                .map(|r| (r.pattern, r.capabilities))
                .collect();
            let wanted: Vec<(String, Vec<String>)> = want
                .namespaces
                .iter()
                .map(|r| (r.pattern.clone(), r.capabilities.clone()))
                .collect();
            same("namespaces", wanted, rules)?;
            same("node", want.node.as_deref(), p.node.map(disposition))?;
            same("agent", want.agent.as_deref(), p.agent.map(disposition))
        }
        (Err(e), None, Some(want)) => same("error", want.as_str(), e.as_str()),
        (Ok(_), None, Some(want)) => Err(format!("compiled, but expected the error {want:?}")),
        (Err(e), Some(_), None) => Err(format!("expected a policy, got the error {e:?}")),
        _ => Err("expect needs exactly one of compiled, error".into()),
    }
}

pub(crate) fn disposition(d: policy::Disposition) -> &'static str {
    match d {
        policy::Disposition::Deny => "deny",
        policy::Disposition::Read => "read",
        policy::Disposition::Write => "write",
    }
}

pub(crate) fn check_state(host: &MemHost, expect: &Expect) -> Result<(), String> {
    if let Some(paths) = expect.stream.as_ref().and_then(|s| s.watched.as_ref()) {
        same("watched", paths, &host.watched)?;
    }
    if let Some(state) = &expect.state {
        if let Some(meta) = &state.dynamic_meta {
            same("dynamic_meta", meta, &host.dynamic_meta)?;
        }
        if let Some(collected) = &state.collected {
            same("collected", collected, &host.collected)?;
        }
        if let Some(registered) = &state.registered {
            same("registered", registered, &host.registered)?;
        }
        if let Some(lifecycle) = &state.lifecycle {
            same("lifecycle", lifecycle, &host.lifecycle)?;
        }
        if let Some(bootstrapped) = state.bootstrapped {
            same("bootstrapped", bootstrapped, host.bootstrapped)?;
        }
    }
    if let Some(logs) = &expect.logs {
        same("logs", logs, &host.logs)?;
    }
    Ok(())
}

pub(crate) fn same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    want: T,
    got: T,
) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

pub(crate) fn same_bytes(what: &str, want: &[u8], got: &[u8]) -> Result<(), String> {
    same(
        what,
        String::from_utf8_lossy(want),
        String::from_utf8_lossy(got),
    )?;
    same(what, want, got)
}

/// Header names compare case-insensitively; order does not matter, repetitions do.
pub(crate) fn same_headers(want: &[(String, String)], got: &[types::Pair]) -> Result<(), String> {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut got: Vec<(String, String)> = got
        .iter()
        .map(|p| (p.name.to_ascii_lowercase(), p.value.clone()))
        .collect();
    want.sort();
    got.sort();
    same("headers", want, got)
}

pub(crate) fn describe(r: &types::Response) -> String {
    format!("{} {:?}", r.status, String::from_utf8_lossy(&r.body))
}

/// Every expected value of a vector changed once: strings get a `~`, numbers grow by one,
/// booleans flip. Inputs (the request, the pull times, the file changes) are left alone.
pub(crate) fn mutations(vector: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut leaves = Vec::new();
    collect_leaves(&vector["expect"], "/expect".into(), &mut leaves);
    if let Some(steps) = vector["steps"].as_array() {
        for (i, step) in steps.iter().enumerate() {
            if step.get("expect").is_some() {
                collect_leaves(&step["expect"], format!("/steps/{i}/expect"), &mut leaves);
            }
        }
    }
    for pointer in leaves {
        let mut changed = vector.clone();
        let leaf = changed.pointer_mut(&pointer).expect("leaf exists");
        *leaf = match leaf.take() {
            Value::String(s) => Value::String(format!("{s}~")),
            Value::Bool(b) => Value::Bool(!b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Value::from(u + 1),
                (None, Some(i)) => Value::from(i + 1),
                _ => Value::from(n.as_f64().unwrap_or(0.0) + 1.0),
            },
            other => other,
        };
        out.push((pointer, changed));
    }
    out
}

pub(crate) fn collect_leaves(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                collect_leaves(child, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_leaves(child, format!("{pointer}/{i}"), out);
            }
        }
        Value::Null => {}
        _ => out.push(pointer),
    }
}

pub(crate) fn vector_name(vector: &Value) -> &str {
    vector["name"].as_str().unwrap_or("<unnamed>")
}
