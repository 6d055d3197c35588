//! The core's hot paths, natively: Nomad's stream frames (base64 into the output), Nomad's
//! JSON writer on a metadata-sized document, and routing. `cargo bench -p caravan-core`.

use std::hint::black_box;

use caravan_core::fs::stream;
use caravan_core::router;
use caravan_core::wire::json;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn frames(c: &mut Criterion) {
    let data: Vec<u8> = (0..stream::FRAME_SIZE)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(u64::from(stream::FRAME_SIZE)));
    group.bench_function("encode 64 KiB", |b| {
        let mut out = Vec::with_capacity(128 << 10);
        b.iter(|| {
            out.clear();
            stream::encode_frame(
                &mut out,
                black_box(&data),
                "alloc/logs/web.stdout.0",
                None,
                1 << 30,
            );
            black_box(out.len())
        });
    });
    group.finish();
}

fn metadata() -> serde_json::Value {
    let mut meta = serde_json::Map::new();
    for (key, value) in [
        ("cpu.arch", "amd64"),
        ("cpu.numcores", "2"),
        ("cpu.frequency", "2400"),
        ("cpu.modelname", "Intel(R) Xeon(R) CPU @ 2.40GHz"),
        ("driver.exec", "1"),
        ("kernel.name", "linux"),
        ("kernel.version", "6.18.0"),
        ("memory.totalbytes", "8342003712"),
        ("os.name", "debian"),
        ("os.version", "12"),
        ("unique.hostname", "node-1"),
        ("unique.network.ip-address", "10.0.0.7"),
        (
            "note",
            "quotes \" and <html> & \u{2028} stay as Nomad writes them",
        ),
    ] {
        meta.insert(key.into(), value.into());
    }
    serde_json::json!({
        "Dynamic": {"rack": "r1", "zone": "a"},
        "Meta": meta,
        "Static": {"owner": "ops"},
        "Float": 0.5,
        "Index": 42,
    })
}

fn json_writing(c: &mut Criterion) {
    let value = metadata();
    let mut group = c.benchmark_group("json");
    group.bench_function("metadata compact", |b| {
        b.iter(|| black_box(json::to_vec(black_box(&value), false)))
    });
    group.bench_function("metadata pretty", |b| {
        b.iter(|| black_box(json::to_vec(black_box(&value), true)))
    });
    // The metadata routes' way: the same maps written from borrowed entries, no `Value`.
    let entries = |name: &str| -> Vec<(&str, Option<&str>)> {
        value[name]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    };
    let maps = [
        ("Dynamic", entries("Dynamic")),
        ("Meta", entries("Meta")),
        ("Static", entries("Static")),
    ];
    group.bench_function("metadata maps compact", |b| {
        b.iter(|| black_box(json::string_maps_to_vec(black_box(&maps), false)))
    });
    group.finish();
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for (name, path) in [
        ("metadata", "/v1/client/metadata"),
        (
            "fs/stat",
            "/v1/client/fs/stat/5fc98185-17ff-26bc-a802-0c74fa471c99",
        ),
        (
            "allocation stats",
            "/v1/client/allocation/5fc98185-17ff-26bc-a802-0c74fa471c99/stats",
        ),
        ("unknown", "/v1/client/nothing/here"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(router::route(black_box(path)).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, frames, json_writing, routing);
criterion_main!(benches);
