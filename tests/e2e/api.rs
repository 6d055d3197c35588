//! Every request/response endpoint over real HTTP: Nomad's shapes, statuses and texts.

use crate::support::{Agent, place, request, wait_until};

/// Wait until the demo task has written a line to stdout and to stderr.
fn wait_for_demo_output(agent: &Agent) {
    let logs = agent.alloc_dir().join("alloc/logs");
    wait_until("the demo task's first output", || {
        ["demo.stdout.0", "demo.stderr.0"]
            .iter()
            .all(|f| std::fs::metadata(logs.join(f)).is_ok_and(|m| m.len() > 0))
    });
}

#[test]
fn every_endpoint_answers_with_nomad_shaped_json() {
    let agent = Agent::start();
    let a = &agent.demo_alloc;

    let meta = agent.get("/v1/client/metadata");
    assert_eq!(meta.status, 200);
    assert_eq!(meta.header("content-type"), Some("application/json"));
    let body = meta.json();
    assert_eq!(body["Static"]["connect.log_level"], "info");
    assert_eq!(body["Meta"]["connect.proxy_concurrency"], "1");
    assert_eq!(body["Dynamic"], serde_json::json!({}));

    let stats = agent.get("/v1/client/stats");
    assert_eq!(stats.status, 200);
    let keys: Vec<String> = stats.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "AllocDirStats",
            "CPU",
            "CPUTicksConsumed",
            "DeviceStats",
            "DiskStats",
            "Memory",
            "Timestamp",
            "Uptime"
        ]
    );
    assert!(stats.text().contains(r#""DeviceStats":null"#));
    let own = agent.get(&format!("/v1/client/stats?node_id={}", agent.node_id));
    assert_eq!(own.status, 200);

    // The demo task is sampled in the background: wait for its first sample.
    let mut usage = agent.get(&format!("/v1/client/allocation/{a}/stats"));
    wait_until("the demo task's first sample", || {
        usage = agent.get(&format!("/v1/client/allocation/{a}/stats"));
        usage.json()["Tasks"].get("demo").is_some()
    });
    assert_eq!(usage.status, 200);
    let body = usage.json();
    assert_eq!(
        body["ResourceUsage"]["MemoryStats"]["Measured"],
        serde_json::json!(["RSS", "Swap"])
    );
    assert_eq!(
        body["ResourceUsage"]["CpuStats"]["Measured"],
        serde_json::json!(["System Mode", "User Mode", "Percent"])
    );
    assert!(
        body["ResourceUsage"]["MemoryStats"]["RSS"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(body["Timestamp"].as_i64().unwrap() > 0);
    assert!(
        !body["Tasks"]["demo"]["Pids"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // An unknown task is not an error: a zero aggregate, as Nomad.
    let none = agent.get(&format!("/v1/client/allocation/{a}/stats?task=nope"));
    assert!(
        none.text()
            .starts_with(r#"{"ResourceUsage":{"CpuStats":{"Measured":null,"Percent":0.0,"#),
        "{}",
        none.text()
    );
    assert!(
        none.text().ends_with(r#""Tasks":{},"Timestamp":0}"#),
        "{}",
        none.text()
    );

    wait_for_demo_output(&agent);
    let ls = agent.get(&format!("/v1/client/fs/ls/{a}?path=/alloc/logs"));
    assert_eq!(ls.status, 200);
    // Log files only: the arrival-time indexes are in the task's private/ (docs/compatibility.md).
    assert!(
        ls.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["IsDir"] == false),
        "{}",
        ls.text()
    );
    let first = &ls.json()[0];
    assert_eq!(first["Name"], "demo.stderr.0");
    assert!(
        ls.text()
            .contains(r#"},{"FileMode":"-rw-r--r--","IsDir":false,"ModTime":""#)
    );

    let stat = agent.get(&format!("/v1/client/fs/stat/{a}?path=demo/tmp"));
    assert_eq!(stat.json()["FileMode"], "dtrwxrwxrwx");
    assert_eq!(stat.json()["ContentType"], "application/octet-stream");

    let cat = agent.get(&format!(
        "/v1/client/fs/cat/{a}?path=alloc/logs/demo.stdout.0"
    ));
    assert_eq!(cat.status, 200);
    let on_disk = std::fs::read(agent.alloc_dir().join("alloc/logs/demo.stdout.0")).unwrap();
    assert!(
        !cat.body.is_empty() && on_disk.starts_with(&cat.body),
        "cat is the task's output so far"
    );
    assert!(cat.text().ends_with('\n'), "{}", cat.text());
    assert_eq!(
        cat.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(cat.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        cat.header("content-length"),
        Some(cat.body.len().to_string().as_str())
    );

    let html = agent.get(&format!("/v1/client/fs/cat/{a}?path=demo/local/index.html"));
    assert_eq!(
        html.header("content-type"),
        Some("text/plain"),
        "HTML is never served as HTML"
    );
    assert!(
        html.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );

    let readat = agent.get(&format!(
        "/v1/client/fs/readat/{a}?path=alloc/logs/demo.stdout.0&offset=5&limit=4"
    ));
    assert_eq!((readat.status, &readat.body[..]), (200, &on_disk[5..9]));
    let past_end = agent.get(&format!(
        "/v1/client/fs/readat/{a}?path=alloc/logs/demo.stdout.0&offset=99999"
    ));
    assert_eq!((past_end.status, past_end.body.len()), (200, 0));

    let pretty = agent.get("/v1/client/metadata?pretty");
    assert!(pretty.text().starts_with("{\n    \"Dynamic\": {},\n"));
    assert!(pretty.text().ends_with("}\n"));
    assert!(agent.get("/v1/client/metadata").text().ends_with('}'));
}

#[test]
fn large_files_are_streamed_whole() {
    let agent = Agent::start();
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(agent.alloc_dir().join("alloc/data/big.bin"), &data).unwrap();
    let cat = agent.get(&format!(
        "/v1/client/fs/cat/{}?path=alloc/data/big.bin",
        agent.demo_alloc
    ));
    assert_eq!(cat.status, 200);
    assert_eq!(cat.header("content-type"), Some("application/octet-stream"));
    assert!(
        cat.body == data,
        "cat returned {} bytes, not the file",
        cat.body.len()
    );
}

#[test]
fn error_cases_give_the_documented_status_and_text() {
    let agent = Agent::start();
    let a = agent.demo_alloc.clone();
    wait_for_demo_output(&agent);
    let unknown = "5fc98185-17ff-26bc-a802-0c74fa471c99";
    let cases: Vec<(String, u16, String)> = vec![
        (
            format!("/v1/client/fs/ls/{unknown}"),
            404,
            format!("Unknown allocation \"{unknown}\""),
        ),
        (
            format!("/v1/client/allocation/{unknown}/stats"),
            404,
            format!("Unknown allocation \"{unknown}\""),
        ),
        (
            format!("/v1/client/allocation/{unknown}/gc"),
            404,
            format!("Unknown allocation \"{unknown}\""),
        ),
        (
            "/v1/client/fs/ls/foo".into(),
            400,
            "alloc lookup failed: index error: UUID must be 36 characters".into(),
        ),
        (
            "/v1/client/fs/ls/".into(),
            400,
            "must provide a valid alloc id".into(),
        ),
        ("/v1/client/fs/".into(), 404, "Invalid method".into()),
        ("/v1/client/fs/nope/x".into(), 404, "Invalid method".into()),
        (
            format!("/v1/client/allocation/{a}/nope"),
            404,
            "resource not found".into(),
        ),
        (
            format!("/v1/client/allocation/{a}"),
            404,
            "resource not found".into(),
        ),
        ("/v1/client/stats/".into(), 404, String::new()),
        ("/v1/client/gc/".into(), 404, String::new()),
        ("/v1/client/metadata/".into(), 404, String::new()),
        (
            format!("/v1/client/fs/stat/{a}"),
            400,
            "must provide a file name".into(),
        ),
        (
            format!("/v1/client/fs/cat/{a}"),
            400,
            "must provide a file name".into(),
        ),
        (
            format!("/v1/client/fs/readat/{a}?path=x"),
            400,
            "error parsing offset: strconv.ParseInt: parsing \"\": invalid syntax".into(),
        ),
        (
            format!("/v1/client/fs/readat/{a}?path=alloc/logs/demo.stdout.0&offset=x"),
            400,
            "error parsing offset: strconv.ParseInt: parsing \"x\": invalid syntax".into(),
        ),
        (
            format!("/v1/client/fs/readat/{a}?path=alloc/logs/demo.stdout.0&offset=0&limit=1.5"),
            400,
            "error parsing limit: strconv.ParseInt: parsing \"1.5\": invalid syntax".into(),
        ),
        (
            format!("/v1/client/fs/readat/{a}?path=alloc/logs/demo.stdout.0&offset=-1"),
            400,
            "can't seek to offset -1: invalid argument".into(),
        ),
        (
            format!("/v1/client/fs/stat/{a}?path=nope"),
            404,
            "stat nope: no such file or directory".into(),
        ),
        (
            format!("/v1/client/fs/ls/{a}?path=nope"),
            404,
            "open nope: no such file or directory".into(),
        ),
        (
            format!("/v1/client/fs/cat/{a}?path=alloc/nope"),
            404,
            "stat alloc/nope: no such file or directory".into(),
        ),
        (
            format!("/v1/client/fs/ls/{a}?path=alloc/logs/demo.stdout.0"),
            400,
            "open alloc/logs/demo.stdout.0: not a directory".into(),
        ),
        (
            format!("/v1/client/fs/cat/{a}?path=alloc"),
            400,
            "file \"alloc\" is a directory".into(),
        ),
        (
            format!("/v1/client/fs/ls/{a}?path=../"),
            400,
            "Path escapes the alloc directory".into(),
        ),
        (
            format!("/v1/client/fs/cat/{a}?path=demo/secrets/token"),
            403,
            "Reading secret file prohibited: demo/secrets/token".into(),
        ),
        (
            format!("/v1/client/allocation/{a}/gc"),
            400,
            "No such allocation on client, or allocation not eligible for GC".into(),
        ),
        (
            "/v1/client/stats?node_id=other".into(),
            404,
            "Unknown node \"other\"".into(),
        ),
        (
            "/v1/client/gc?node_id=other".into(),
            404,
            "Unknown node \"other\"".into(),
        ),
        (
            "/v1/client/metadata?node_id=other".into(),
            404,
            "Unknown node \"other\"".into(),
        ),
        (
            "/v1/client/fs/stream/x".into(),
            400,
            "must provide a file name".into(),
        ),
        (
            format!("/v1/client/fs/logs/{a}?task=demo&type=stdout&origin=middle"),
            400,
            "origin must be start or end".into(),
        ),
        (
            format!("/v1/client/fs/logs/{a}?task=nope&type=stdout"),
            400,
            "unknown task name \"nope\"".into(),
        ),
    ];
    for (target, status, text) in cases {
        let reply = agent.get(&target);
        assert_eq!(
            (reply.status, reply.text()),
            (status, text.clone()),
            "GET {target}"
        );
        if !text.is_empty() {
            assert_eq!(
                reply.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "GET {target}"
            );
        }
        assert!(
            !reply.text().contains(&*agent.data_dir.to_string_lossy()),
            "host path leaked by {target}"
        );
    }
}

#[test]
fn metadata_methods_bodies_and_node_ids() {
    let agent = Agent::start();
    let post = |query: &str, body: &str, content_type: Option<&str>| {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| vec![("Content-Type", c)])
            .unwrap_or_default();
        agent.request(
            "POST",
            &format!("/v1/client/metadata{query}"),
            &headers,
            body.as_bytes(),
        )
    };
    for method in ["PUT", "DELETE", "HEAD", "PATCH"] {
        let reply = agent.request(method, "/v1/client/metadata", &[], b"");
        assert_eq!(reply.status, 405, "{method}");
    }
    assert_eq!(post("", "", None).text(), "Request body is empty");
    assert_eq!(
        post("", r#"{"Meta":{}}"#, None).text(),
        "missing required Meta object"
    );
    assert_eq!(
        post("", r#"{"Meta":{"1a":"x"}}"#, None).text(),
        "\"1a\" is invalid; metadata keys must be valid dotted hcl identifiers"
    );
    assert_eq!(
        post("", r#"{"Meta":{"a":1}}"#, None).text(),
        "json: cannot unmarshal number into Go struct field NodeMetaApplyRequest.Meta of type string"
    );
    let other = post("", r#"{"NodeID":"elsewhere","Meta":{"a":"1"}}"#, None);
    assert_eq!(
        (other.status, other.text()),
        (404, "Unknown node \"elsewhere\"".to_string())
    );

    // urllib sends a form content type with JSON; Go sends none. Both must work.
    let applied = post(
        &format!("?node_id={}", agent.node_id),
        r#"{"Meta":{"rack":"r1","connect.log_level":null,"gone":null}}"#,
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(applied.status, 200, "{}", applied.text());
    let body = applied.json();
    assert_eq!(
        body["Dynamic"],
        serde_json::json!({"connect.log_level": null, "rack": "r1"})
    );
    assert_eq!(body["Meta"]["rack"], "r1");
    assert!(
        body["Meta"].get("connect.log_level").is_none(),
        "a null tombstones the static key"
    );
    assert_eq!(body["Static"]["connect.log_level"], "info");
    let unset = post("", r#"{"nodeid":"","meta":{"rack":null}}"#, None);
    assert_eq!(
        unset.json()["Dynamic"],
        serde_json::json!({"connect.log_level": null})
    );
}

#[test]
fn gc_answers_an_empty_200_and_removes_terminal_allocations() {
    let agent = Agent::start();
    let stopped = place(&agent, &["web"]);
    let running = place(&agent, &["web"]);
    std::fs::remove_file(agent.data_dir.join(format!("specs/{stopped}.json"))).unwrap();
    wait_until("the stopped allocation to be collectable", || {
        let reply = agent.get(&format!("/v1/client/allocation/{stopped}/gc"));
        assert!(reply.status == 200 || reply.status == 400, "{reply:?}");
        if reply.status == 200 {
            assert_eq!(reply.header("content-length"), Some("0"));
            assert_eq!(reply.header("content-type"), None);
        }
        reply.status == 200
    });
    assert_eq!(
        agent.get(&format!("/v1/client/fs/ls/{stopped}")).status,
        404
    );
    assert!(!agent.data_dir.join("alloc").join(&stopped).exists());

    let all = agent.get("/v1/client/gc");
    assert_eq!(
        (all.status, all.header("content-length"), all.body.len()),
        (200, Some("0"), 0)
    );
    assert_eq!(
        agent.get(&format!("/v1/client/fs/ls/{running}")).status,
        200
    );
}

#[test]
fn paths_are_cleaned_not_redirected_and_cors_reflects_the_origin() {
    let agent = Agent::start();
    let a = &agent.demo_alloc;
    wait_for_demo_output(&agent);
    let reply = agent.get(&format!(
        "/v1//client/fs/cat/{a}?path=alloc/logs/demo.stderr.0"
    ));
    assert_eq!(reply.status, 200);
    assert!(reply.text().starts_with("tick\n"), "{}", reply.text());
    let python_bools = agent.get(&format!(
        "/v1/client/fs/ls/{a}?path=/&pretty=True&namespace=*&region=global"
    ));
    assert_eq!(python_bools.status, 200);

    let origin = [("Origin", "https://ui.example")];
    let reply = agent.request("GET", "/v1/client/stats", &origin, b"");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://ui.example")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let gc = agent.request("GET", "/v1/client/gc", &origin, b"");
    assert_eq!(
        gc.header("access-control-allow-origin"),
        None,
        "GC-all is not CORS-wrapped in Nomad"
    );

    let preflight = agent.request(
        "OPTIONS",
        &format!("/v1/client/fs/logs/{a}"),
        &[
            ("Origin", "https://ui.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "X-Nomad-Token"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("X-Nomad-Token")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET")
    );
}

#[test]
fn head_is_served_like_get_without_a_body() {
    let agent = Agent::start();
    wait_for_demo_output(&agent);
    let reply = request(
        &agent.addr,
        "HEAD",
        &format!(
            "/v1/client/fs/cat/{}?path=alloc/logs/demo.stdout.0",
            agent.demo_alloc
        ),
        &[],
        b"",
    );
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
}
