//! `/v1/metrics`: the agent's metrics, in Nomad's JSON shape or (`?format=prometheus`) in
//! Prometheus' text format. Answered by the host, like `/v1/agent/core`: the values are the
//! host's (its registry, its samplers, its records), not the API's, and must stay readable
//! whatever core is loaded. Who may read them is still the core crate's rule.
//!
//! Also the request-side helpers the transport records with: a request's route *pattern*
//! (never its path, so label values stay few) and whether an answer is an ACL denial.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::admin::AGENT_CORE_PATH;
use super::shared::ServerState;
use super::{Body, full, plain, respond};
use crate::allocs::ClientStatus;
use crate::capabilities::HostContext;
use crate::metrics::{self, Derived, Point, UNMATCHED_ROUTE};
use crate::runtime::native::authorize_metrics;
use crate::wit::types;

/// Nomad's metrics route.
pub(super) const METRICS_PATH: &str = "/v1/metrics";

/// `GET /v1/metrics[?format=prometheus]`.
pub(super) fn metrics_endpoint(shared: &ServerState, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Invalid method");
    }
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let ctx = shared.runtime.context();
    if let Err(refusal) = authorize_metrics(ctx.clone(), headers) {
        metrics::global().acl_denials.incr(&[METRICS_PATH]);
        return respond(refusal);
    }
    let derived = derive(shared, &ctx);
    let registry = metrics::global();
    // Nomad reads the first `format` value and knows one besides JSON.
    let prometheus = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("format="))
        .is_some_and(|format| format == "prometheus");
    let (body, content_type) = if prometheus {
        (
            registry.render_prometheus(&derived),
            metrics::PROMETHEUS_CONTENT_TYPE,
        )
    } else {
        (
            registry.render_json(&derived, SystemTime::now()),
            "application/json",
        )
    };
    let mut response = Response::new(full(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A request's route pattern for labels: the core's router names it (the natively linked
/// one, so the label set is the same whichever core serves); the host's own routes name
/// themselves; anything else is [`UNMATCHED_ROUTE`].
pub(super) fn route_label(path: &str) -> &'static str {
    match path {
        AGENT_CORE_PATH => AGENT_CORE_PATH,
        METRICS_PATH => METRICS_PATH,
        _ => caravan_core::router::route(path)
            .map(|route| route.pattern())
            .unwrap_or(UNMATCHED_ROUTE),
    }
}

/// Whether the core refused a request for want of a token or capability: its 403s with
/// Nomad's ACL texts, as the core crate exports them (a 403 for reading a task's `secrets/` is
/// not an ACL denial).
pub(super) fn is_acl_denial(response: &types::Response) -> bool {
    response.status == 403
        && caravan_core::acl::access::DENIALS
            .iter()
            .any(|text| response.body.starts_with(text.as_bytes()))
}

/// The values the host keeps anyway, read now: open streams, allocations by status, task
/// restarts, host usage and each running task's usage, under Nomad's names and labels.
fn derive(shared: &ServerState, ctx: &HostContext) -> Derived {
    let mut derived = Derived::default();
    let node = vec![
        ("node_id", ctx.node.id.clone()),
        ("datacenter", ctx.node.datacenter.clone()),
    ];
    let gauge = |name, help, labels: &Vec<(&'static str, String)>, value: f64| Point {
        name,
        help,
        labels: labels.clone(),
        value,
    };
    derived.gauges.push(gauge(
        "nomad.caravan.http.open_streams",
        "Streamed responses (fs/stream, fs/logs) open now.",
        &Vec::new(),
        shared.open_streams.load(Ordering::Acquire) as f64,
    ));
    allocations(ctx, &node, &mut derived);
    if let Some(sample) = ctx.stats.latest() {
        let memory = [
            ("nomad.client.host.memory.total", sample.memory.total),
            (
                "nomad.client.host.memory.available",
                sample.memory.available,
            ),
            ("nomad.client.host.memory.used", sample.memory.used),
            ("nomad.client.host.memory.free", sample.memory.free),
        ];
        for (name, bytes) in memory {
            let help = "Host memory in bytes (total, available, used, free).";
            derived.gauges.push(gauge(name, help, &node, bytes as f64));
        }
        for cpu in &sample.cpus {
            let mut labels = node.clone();
            labels.push(("cpu", cpu.name.clone()));
            let help = "Host CPU use in percent, per CPU (total, user, system, idle).";
            for (name, value) in [
                ("nomad.client.host.cpu.total", cpu.total_percent),
                ("nomad.client.host.cpu.user", cpu.user),
                ("nomad.client.host.cpu.system", cpu.system),
                ("nomad.client.host.cpu.idle", cpu.idle),
            ] {
                derived.gauges.push(gauge(name, help, &labels, value));
            }
        }
        for disk in &sample.disks {
            let mut labels = node.clone();
            labels.push(("disk", disk.device.clone()));
            let help = "Host disk usage (size, used, available in bytes; percentages).";
            for (name, value) in [
                ("nomad.client.host.disk.size", disk.size as f64),
                ("nomad.client.host.disk.used", disk.used as f64),
                ("nomad.client.host.disk.available", disk.available as f64),
                ("nomad.client.host.disk.used_percent", disk.used_percent),
                (
                    "nomad.client.host.disk.inodes_percent",
                    disk.inodes_used_percent,
                ),
            ] {
                derived.gauges.push(gauge(name, help, &labels, value));
            }
        }
        derived.gauges.push(gauge(
            "nomad.client.uptime",
            "Host uptime in seconds.",
            &node,
            sample.uptime as f64,
        ));
    }
    derived
}

/// Allocations by status (Nomad's five gauges), task restarts, and each running task's usage.
fn allocations(ctx: &HostContext, node: &[(&'static str, String)], derived: &mut Derived) {
    let records = ctx.allocations.list();
    let mut by_status: BTreeMap<&'static str, usize> =
        ["pending", "running", "terminal", "blocked", "migrating"]
            .into_iter()
            .map(|status| (status, 0))
            .collect();
    for record in &records {
        let status = match record.client_status {
            ClientStatus::Pending => "pending",
            ClientStatus::Running => "running",
            status if status.is_terminal() => "terminal",
            _ => continue,
        };
        *by_status.entry(status).or_default() += 1;
    }
    for (status, count) in by_status {
        derived.gauges.push(Point {
            name: match status {
                "pending" => "nomad.client.allocations.pending",
                "running" => "nomad.client.allocations.running",
                "terminal" => "nomad.client.allocations.terminal",
                "blocked" => "nomad.client.allocations.blocked",
                _ => "nomad.client.allocations.migrating",
            },
            help: "Allocations on this client by status (pending, running, terminal; never blocked or migrating).",
            labels: node.to_vec(),
            value: count as f64,
        });
    }
    for record in &records {
        let spec = &record.spec;
        let labels = |task: &str| {
            vec![
                ("namespace", spec.namespace.clone()),
                ("job", spec.job_id.clone()),
                ("task_group", spec.task_group.clone()),
                ("alloc_id", spec.id.clone()),
                ("task", task.to_string()),
            ]
        };
        for task in &record.tasks {
            derived.counters.push(Point {
                name: "nomad.client.allocs.restart",
                help: "Restarts of each task of each allocation on this client.",
                labels: labels(&task.name),
                value: f64::from(task.restarts),
            });
        }
        for usage in ctx.allocations.usage(&spec.id) {
            let labels = labels(&usage.task);
            let sum = |f: fn(&crate::allocs::procstats::ProcessSample) -> f64| {
                usage.processes.iter().map(f).sum::<f64>()
            };
            let memory_help = "Task memory in bytes (rss, swap), summed over its processes.";
            let cpu_help = "Task CPU use (percent of one core: total_percent, user, system; total_ticks in MHz).";
            for (name, help, value) in [
                (
                    "nomad.client.allocs.memory.rss",
                    memory_help,
                    sum(|p| p.rss as f64),
                ),
                (
                    "nomad.client.allocs.memory.swap",
                    memory_help,
                    sum(|p| p.swap as f64),
                ),
                (
                    "nomad.client.allocs.cpu.total_percent",
                    cpu_help,
                    sum(|p| p.cpu_percent),
                ),
                (
                    "nomad.client.allocs.cpu.user",
                    cpu_help,
                    sum(|p| p.user_mode),
                ),
                (
                    "nomad.client.allocs.cpu.system",
                    cpu_help,
                    sum(|p| p.system_mode),
                ),
                (
                    "nomad.client.allocs.cpu.total_ticks",
                    cpu_help,
                    sum(|p| p.total_ticks),
                ),
            ] {
                derived.gauges.push(Point {
                    name,
                    help,
                    labels: labels.clone(),
                    value,
                });
            }
        }
    }
}
