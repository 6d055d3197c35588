use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn derived() -> Derived {
    Derived {
        gauges: vec![Point {
            name: "nomad.client.host.memory.total",
            help: "Total memory.",
            labels: vec![("node_id", "n1".into())],
            value: 2048.0,
        }],
        counters: vec![Point {
            name: "nomad.client.allocs.restart",
            help: "Task restarts.",
            labels: vec![("task", "web".into()), ("alloc_id", "a1".into())],
            value: 3.0,
        }],
    }
}

#[test]
fn json_has_nomads_shape_and_go_metrics_aggregates() {
    let metrics = Metrics::new();
    let labels = ["GET", "/v1/client/metadata", "200"];
    metrics.http_requests.incr(&labels);
    metrics.http_requests.incr(&labels);
    metrics.log_bytes_written.add(&["stdout"], 10);
    metrics.log_bytes_written.add(&["stdout"], 30);
    metrics.log_bytes_written.add(&["stderr"], 0);
    metrics
        .core_call_duration
        .observe(&["handle"], Duration::from_millis(2));
    metrics
        .core_call_duration
        .observe(&["handle"], Duration::from_millis(4));

    let at = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
    let body: serde_json::Value =
        serde_json::from_slice(&metrics.render_json(&derived(), at)).unwrap();
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["Counters", "Gauges", "Points", "Samples", "Timestamp"]
    );
    assert_eq!(body["Timestamp"], "2024-02-29 12:34:56 +0000 UTC");
    assert_eq!(body["Points"], serde_json::json!([]));
    assert_eq!(
        body["Gauges"],
        serde_json::json!([{
            "Name": "nomad.client.host.memory.total",
            "Value": 2048.0,
            "Labels": {"node_id": "n1"},
        }])
    );

    let counters = body["Counters"].as_array().unwrap();
    let find = |name: &str| {
        counters
            .iter()
            .find(|c| c["Name"] == name)
            .unwrap_or_else(|| panic!("{name} in {counters:?}"))
    };
    let requests = find("nomad.caravan.http.requests");
    for field in [
        "Name", "Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev", "Labels",
    ] {
        assert!(requests.get(field).is_some(), "{field} in {requests}");
    }
    assert_eq!(requests["Count"], 2);
    assert_eq!(requests["Sum"], 2.0);
    assert_eq!(
        requests["Labels"],
        serde_json::json!({"method": "GET", "route": "/v1/client/metadata", "status": "200"})
    );
    // Two increments, of 10 and 30 bytes; an increment of zero is no increment.
    let bytes = find("nomad.caravan.logmon.bytes_written");
    assert_eq!(bytes["Count"], 2);
    assert_eq!(bytes["Sum"], 40.0);
    assert_eq!(
        (bytes["Min"].clone(), bytes["Max"].clone()),
        (10.0.into(), 30.0.into())
    );
    assert_eq!(bytes["Mean"], 20.0);
    assert!((bytes["Stddev"].as_f64().unwrap() - 200f64.sqrt()).abs() < 1e-9);
    assert_eq!(bytes["Labels"], serde_json::json!({"log_type": "stdout"}));
    assert_eq!(counters.len(), 3, "{counters:?}");
    let restarts = find("nomad.client.allocs.restart");
    assert_eq!(
        (restarts["Count"].clone(), restarts["Sum"].clone()),
        (3.into(), 3.0.into())
    );

    let samples = body["Samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0]["Name"], "nomad.caravan.core.call_duration");
    assert_eq!(samples[0]["Count"], 2);
    assert_eq!(samples[0]["Min"], 2.0);
    assert_eq!(samples[0]["Max"], 4.0);
    assert_eq!(samples[0]["Mean"], 3.0);
}

#[test]
fn prometheus_text_uses_underscored_names_and_histograms() {
    let metrics = Metrics::new();
    metrics
        .http_requests
        .incr(&["GET", "/v1/client/metadata", "200"]);
    metrics
        .http_request_duration
        .observe(&["GET", "/v1/client/metadata"], Duration::from_micros(300));
    let text = String::from_utf8(metrics.render_prometheus(&derived())).unwrap();
    let has = |line: &str| {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        )
    };
    has("# TYPE nomad_caravan_http_requests counter");
    has(r#"nomad_caravan_http_requests{method="GET",route="/v1/client/metadata",status="200"} 1"#);
    has("# TYPE nomad_caravan_http_request_duration histogram");
    has(
        r#"nomad_caravan_http_request_duration_bucket{method="GET",route="/v1/client/metadata",le="0.25"} 0"#,
    );
    has(
        r#"nomad_caravan_http_request_duration_bucket{method="GET",route="/v1/client/metadata",le="0.5"} 1"#,
    );
    has(r#"nomad_caravan_http_request_duration_count{method="GET",route="/v1/client/metadata"} 1"#);
    has("# TYPE nomad_client_host_memory_total gauge");
    has(r#"nomad_client_host_memory_total{node_id="n1"} 2048"#);
    has("# TYPE nomad_client_allocs_restart counter");
    has(r#"nomad_client_allocs_restart{alloc_id="a1",task="web"} 3"#);
    // Metrics never recorded have no series (and no family).
    assert!(!text.contains("nomad_caravan_core_traps"), "{text}");
    assert!(!text.contains("nomad.c"), "{text}");
}

#[test]
fn the_global_registry_is_one_per_process() {
    assert!(std::ptr::eq(global(), global()));
}
