//! The agent's metrics, all in this one module: what `GET /v1/metrics` reports, in Nomad's
//! JSON shape or in Prometheus' text format (see `docs/metrics.md` for every metric).
//!
//! Two kinds of values, kept apart on purpose:
//!
//! - **Events** (a request served, a core call, a swap, log bytes written, ...) are recorded
//!   where they happen into the process-wide [`Metrics`] ([`global`]): a counter or a timer
//!   per metric, each labelled by a small, bounded set of values (a route's *pattern*,
//!   never a path or an id).
//! - **States the host already keeps** (host and task usage from the samplers, allocation
//!   statuses, task restarts, open streams) are not copied here: the endpoint reads them
//!   when it renders ([`Derived`]), so they are never stale and a collected allocation's
//!   series disappear with it.
//!
//! The registry is the `prometheus` crate's (it renders the text format, and unlike the
//! other Rust clients it lets us read every value back for the JSON form). Beside each
//! Prometheus series we keep go-metrics' aggregate (count, sum, sum of squares, min, max),
//! because Nomad's JSON reports those for every counter and sample.
//!
//! This module sits at the bottom with `util`: it imports nothing from the crate, so every
//! room (http, runtime, allocs) may record into it.

mod render;
/// Count and time one call into the core (`handle`, or a stream's `next`); `trapped` when it
/// failed.
pub fn record_core_call(call: &'static str, started: Instant, trapped: bool) {
    let metrics = global();
    metrics.core_calls.incr(&[call]);
    metrics
        .core_call_duration
        .observe(&[call], started.elapsed());
    if trapped {
        metrics.core_traps.incr(&[call]);
    }
}

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub use render::{Derived, PROMETHEUS_CONTENT_TYPE, Point};

/// Buckets of the duration histograms, in milliseconds: go-metrics' (hence Nomad's) unit of
/// time, in the JSON form and in the Prometheus form alike.
const MS_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0, 30000.0,
];

/// The route label of a request the core's router does not know (bounded: never the path).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Every metric recorded as events happen. One per process ([`global`]); tests make their
/// own.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    /// Requests by method, route pattern and status.
    pub http_requests: Counter,
    /// Time to each request's answer head, by method and route pattern, in ms.
    pub http_request_duration: Timer,
    /// Requests a server relayed to the client node holding what they name, by route.
    pub http_forwarded: Counter,
    /// Bytes of files (`cat`, `readat`) and streams (`stream`, `logs`) sent, by route.
    pub http_served_bytes: Counter,
    /// Calls into the core (`handle`, a stream's `next`), by call.
    pub core_calls: Counter,
    /// Time each call into the core took, by call, in ms.
    pub core_call_duration: Timer,
    /// Calls into the core that trapped (a panic, the deadline, memory), by call.
    pub core_traps: Counter,
    /// Swap candidates, by result (`accepted`, `rejected`).
    pub core_swaps: Counter,
    /// Requests refused for want of a token or capability (the core's 403s), by route.
    pub acl_denials: Counter,
    /// Bytes of task output written to `alloc/logs`, by log type (`stdout`, `stderr`).
    pub log_bytes_written: Counter,
}

/// The process-wide metrics every room records into.
pub fn global() -> &'static Metrics {
    static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &GLOBAL
}

impl Metrics {
    /// A registry with every metric, all empty.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name, help, labels| Counter::new(&registry, name, help, labels);
        let timer = |name, help, labels| Timer::new(&registry, name, help, labels);
        Self {
            started: Instant::now(),
            http_requests: counter(
                "nomad.caravan.http.requests",
                "HTTP requests served, by method, route pattern and status.",
                &["method", "route", "status"],
            ),
            http_request_duration: timer(
                "nomad.caravan.http.request_duration",
                "Time to each HTTP answer's head in milliseconds, by method and route pattern.",
                &["method", "route"],
            ),
            http_forwarded: counter(
                "nomad.caravan.http.forwarded",
                "Requests relayed to the client node holding what they name, by route pattern.",
                &["route"],
            ),
            http_served_bytes: counter(
                "nomad.caravan.http.served_bytes",
                "Bytes of files and streams sent (cat, readat, stream, logs), by route pattern.",
                &["route"],
            ),
            core_calls: counter(
                "nomad.caravan.core.calls",
                "Calls into the core, by call (handle, next).",
                &["call"],
            ),
            core_call_duration: timer(
                "nomad.caravan.core.call_duration",
                "Time each call into the core took in milliseconds, by call.",
                &["call"],
            ),
            core_traps: counter(
                "nomad.caravan.core.traps",
                "Calls into the core that trapped, by call.",
                &["call"],
            ),
            core_swaps: counter(
                "nomad.caravan.core.swaps",
                "Core swap candidates, by result (accepted, rejected).",
                &["result"],
            ),
            acl_denials: counter(
                "nomad.caravan.acl.denials",
                "Requests refused by the ACL rules (403), by route pattern.",
                &["route"],
            ),
            log_bytes_written: counter(
                "nomad.caravan.logmon.bytes_written",
                "Bytes of task output written to alloc/logs, by log type.",
                &["log_type"],
            ),
            registry,
        }
    }

    fn counters(&self) -> [&Counter; 8] {
        [
            &self.http_requests,
            &self.http_forwarded,
            &self.http_served_bytes,
            &self.core_calls,
            &self.core_traps,
            &self.core_swaps,
            &self.acl_denials,
            &self.log_bytes_written,
        ]
    }

    fn timers(&self) -> [&Timer; 2] {
        [&self.http_request_duration, &self.core_call_duration]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A Nomad-style dotted name as Prometheus spells it (Nomad's Prometheus sink does the same).
fn prometheus_name(name: &str) -> String {
    name.replace(['.', '-'], "_")
}

/// go-metrics' aggregate of one series: what Nomad's JSON reports for counters and samples.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Aggregate {
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Aggregate {
    fn of(value: f64) -> Self {
        Self {
            count: 1,
            sum: value,
            sum_sq: value * value,
            min: value,
            max: value,
        }
    }

    fn ingest(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// The aggregates of one metric, by label values (in the metric's label order).
type Series = Mutex<BTreeMap<Vec<String>, Aggregate>>;

fn ingest(series: &Series, values: &[&str], value: f64) {
    let mut series = series
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    series
        .entry(key)
        .and_modify(|a| a.ingest(value))
        .or_insert_with(|| Aggregate::of(value));
}

/// A monotonic count (Prometheus counter; a go-metrics counter in the JSON form, where each
/// [`Counter::add`] is one increment).
pub struct Counter {
    name: &'static str,
    labels: &'static [&'static str],
    prometheus: IntCounterVec,
    series: Series,
}

impl Counter {
    fn new(
        registry: &Registry,
        name: &'static str,
        help: &str,
        labels: &'static [&'static str],
    ) -> Self {
        let prometheus = IntCounterVec::new(Opts::new(prometheus_name(name), help), labels)
            .expect("a valid counter definition");
        registry
            .register(Box::new(prometheus.clone()))
            .expect("each metric registered once");
        Self {
            name,
            labels,
            prometheus,
            series: Mutex::default(),
        }
    }

    /// One increment of `n`, labelled by `values` (one per label, in order).
    pub fn add(&self, values: &[&str], n: u64) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        if n == 0 {
            return;
        }
        self.prometheus.with_label_values(values).inc_by(n);
        ingest(&self.series, values, n as f64);
    }

    /// One increment of one.
    pub fn incr(&self, values: &[&str]) {
        self.add(values, 1);
    }
}

/// Durations (Prometheus histogram; go-metrics samples in the JSON form), in milliseconds.
pub struct Timer {
    name: &'static str,
    labels: &'static [&'static str],
    prometheus: HistogramVec,
    series: Series,
}

impl Timer {
    fn new(
        registry: &Registry,
        name: &'static str,
        help: &str,
        labels: &'static [&'static str],
    ) -> Self {
        let opts = HistogramOpts::new(prometheus_name(name), help).buckets(MS_BUCKETS.to_vec());
        let prometheus = HistogramVec::new(opts, labels).expect("a valid histogram definition");
        registry
            .register(Box::new(prometheus.clone()))
            .expect("each metric registered once");
        Self {
            name,
            labels,
            prometheus,
            series: Mutex::default(),
        }
    }

    /// One duration, labelled by `values` (one per label, in order).
    pub fn observe(&self, values: &[&str], took: Duration) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let ms = took.as_secs_f64() * 1000.0;
        self.prometheus.with_label_values(values).observe(ms);
        ingest(&self.series, values, ms);
    }
}
