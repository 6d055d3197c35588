//! `/v1/metrics`' two forms: Nomad's JSON (go-metrics' `DisplayMetrics`: `Timestamp`,
//! `Gauges`, `Points`, `Counters`, `Samples`) and Prometheus' text exposition format
//! (the `prometheus` crate's encoder), from the same values.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;

use super::{Aggregate, Metrics, Series, prometheus_name};

/// One value the host keeps anyway, read when rendering: a gauge (host and task usage,
/// allocation counts, open streams) or a count (task restarts).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Nomad's dotted name (`nomad.client.host.memory.total`).
    pub name: &'static str,
    /// The Prometheus `# HELP` text.
    pub help: &'static str,
    /// The Prometheus labels (Nomad's metric tags).
    pub labels: Vec<(&'static str, String)>,
    /// The value now.
    pub value: f64,
}

/// The values read at render time.
#[derive(Debug, Default)]
pub struct Derived {
    /// Gauges read now (host and allocation usage).
    pub gauges: Vec<Point>,
    /// Monotonic counts the host keeps in its own records (task restarts).
    pub counters: Vec<Point>,
}

/// Nomad's (go-metrics') `MetricsSummary`. `Points` is always empty, as in Nomad.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    timestamp: String,
    gauges: Vec<GaugeValue>,
    points: Vec<serde_json::Value>,
    counters: Vec<SampledValue>,
    samples: Vec<SampledValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GaugeValue {
    name: String,
    value: f64,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SampledValue {
    name: String,
    count: u64,
    rate: f64,
    sum: f64,
    min: f64,
    max: f64,
    mean: f64,
    stddev: f64,
    labels: BTreeMap<String, String>,
}

impl Metrics {
    /// Nomad's JSON form. Unlike go-metrics' in-memory sink, which reports the last
    /// 10-second interval, counts and samples here are totals since the agent started, and
    /// `Rate` is `Sum` per second since then.
    pub fn render_json(&self, derived: &Derived, now: SystemTime) -> Vec<u8> {
        let uptime = self.started.elapsed().as_secs_f64().max(1.0);
        let mut gauges: Vec<GaugeValue> = derived
            .gauges
            .iter()
            .map(|point| GaugeValue {
                name: point.name.to_string(),
                value: point.value,
                labels: labels_map(&point.labels),
            })
            .collect();
        let mut counters = Vec::new();
        for counter in self.counters() {
            sampled(
                &mut counters,
                counter.name,
                counter.labels,
                &counter.series,
                uptime,
            );
        }
        // A count kept elsewhere reads as that many increments of one; like a go-metrics
        // counter, it appears once it has been incremented.
        for point in derived.counters.iter().filter(|p| p.value >= 1.0) {
            let count = point.value as u64;
            let mut one = Aggregate::of(1.0);
            one.count = count;
            one.sum = count as f64;
            one.sum_sq = count as f64;
            counters.push(sampled_value(
                point.name,
                labels_map(&point.labels),
                &one,
                uptime,
            ));
        }
        let mut samples = Vec::new();
        for timer in self.timers() {
            sampled(
                &mut samples,
                timer.name,
                timer.labels,
                &timer.series,
                uptime,
            );
        }
        let by_name = |a: &String,
                       al: &BTreeMap<String, String>,
                       b: &String,
                       bl: &BTreeMap<_, _>| { (a, al).cmp(&(b, bl)) };
        gauges.sort_by(|a, b| by_name(&a.name, &a.labels, &b.name, &b.labels));
        counters.sort_by(|a, b| by_name(&a.name, &a.labels, &b.name, &b.labels));
        samples.sort_by(|a, b| by_name(&a.name, &a.labels, &b.name, &b.labels));
        let summary = Summary {
            timestamp: go_time(now),
            gauges,
            points: Vec::new(),
            counters,
            samples,
        };
        serde_json::to_vec(&summary).expect("metrics serialise")
    }

    /// Prometheus' text exposition format (version 0.0.4), names with `_` for `.`.
    pub fn render_prometheus(&self, derived: &Derived) -> Vec<u8> {
        let mut families = self.registry.gather();
        families.extend(families_of(&derived.gauges, MetricType::GAUGE));
        families.extend(families_of(&derived.counters, MetricType::COUNTER));
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut text = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&families, &mut text) {
            // Only a malformed family fails, and every family here is built above.
            tracing::error!("rendering metrics: {err}");
        }
        text
    }
}

/// The content type of [`Metrics::render_prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

fn sampled(
    out: &mut Vec<SampledValue>,
    name: &str,
    label_names: &[&str],
    series: &Series,
    uptime: f64,
) {
    let series = series
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (values, aggregate) in series.iter() {
        let labels = label_names
            .iter()
            .zip(values)
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        out.push(sampled_value(name, labels, aggregate, uptime));
    }
}

/// go-metrics' `SampledValue`: mean, and the sample standard deviation.
fn sampled_value(
    name: &str,
    labels: BTreeMap<String, String>,
    a: &Aggregate,
    uptime: f64,
) -> SampledValue {
    let n = a.count as f64;
    let stddev = if a.count < 2 {
        0.0
    } else {
        ((n * a.sum_sq - a.sum * a.sum) / (n * (n - 1.0)))
            .max(0.0)
            .sqrt()
    };
    SampledValue {
        name: name.to_string(),
        count: a.count,
        rate: a.sum / uptime,
        sum: a.sum,
        min: a.min,
        max: a.max,
        mean: if a.count == 0 { 0.0 } else { a.sum / n },
        stddev,
        labels,
    }
}

fn labels_map(labels: &[(&'static str, String)]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

/// Points grouped into one family per name, in the order the names first appear.
fn families_of(points: &[Point], kind: MetricType) -> Vec<MetricFamily> {
    let mut families: Vec<MetricFamily> = Vec::new();
    for point in points {
        let name = prometheus_name(point.name);
        let index = match families.iter().position(|f| f.name() == name) {
            Some(index) => index,
            None => {
                let mut family = MetricFamily::default();
                family.set_name(name);
                family.set_help(point.help.to_string());
                family.set_field_type(kind);
                families.push(family);
                families.len() - 1
            }
        };
        let mut labels: Vec<proto::LabelPair> = point
            .labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.clone());
                pair
            })
            .collect();
        labels.sort_by(|a, b| a.name().cmp(b.name()));
        let mut metric = proto::Metric::from_label(labels);
        if kind == MetricType::COUNTER {
            let mut counter = proto::Counter::default();
            counter.set_value(point.value);
            metric.set_counter(counter);
        } else {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(point.value);
            metric.set_gauge(gauge);
        }
        families[index].mut_metric().push(metric);
    }
    families
}

/// The time as Go's `time.Time.String()` prints it in UTC, to the second, as go-metrics'
/// `Timestamp` (`2026-01-02 03:04:05 +0000 UTC`).
fn go_time(now: SystemTime) -> String {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rfc3339 = caravan_core::wire::timefmt::rfc3339_nano(seconds, 0);
    // `2026-01-02T03:04:05Z`
    let date_time = rfc3339.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{date_time} +0000 UTC")
}
