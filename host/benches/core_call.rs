//! One core call, without HTTP or threads: `cargo bench -p caravan --bench core_call`.
//!
//! The same requests decided by the wasm core (a fresh instance per call, as the daemon
//! does) and by the natively linked core, on one thread, so the boundary's own cost shows
//! apart from hyper, the hand-off to a blocking thread and the load generator:
//! - `unknown route`: a 404 the router answers at once, so nearly all of the wasm figure is
//!   the boundary (instantiation, lowering the request, lifting the answer, the reset);
//! - `metadata`: `GET /v1/client/metadata`, the benchmark route of `scripts/bench`.
//!
//! Each figure is the median of nine runs of 5,000 calls; the ratio is wasm / native.

use std::time::{Duration, Instant};

use caravan::capabilities::HostContext;
use caravan::runtime::native::NativeCore;
use caravan::runtime::{Core, DEFAULT_CORE, Runtime, RuntimeOptions, Sandbox};
use caravan::wit::types;

const CALLS: u32 = 5_000;
const RUNS: usize = 9;

fn request(path: &str) -> types::Request {
    types::Request {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// The median time of one call over [`RUNS`] runs of [`CALLS`] calls.
fn per_call(core: &dyn Core, request: &types::Request) -> Duration {
    let mut runs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..CALLS {
                core.decide(request).expect("the core answers");
            }
            started.elapsed() / CALLS
        })
        .collect();
    runs.sort();
    runs[RUNS / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let ctx = HostContext::scratch(dir.path()).expect("a scratch host context");
    let sandbox = Sandbox::new(ctx.clone(), &RuntimeOptions::default()).expect("the engine");
    let wasm = Runtime::start(sandbox, DEFAULT_CORE).expect("the default core starts");
    let native = NativeCore::new(ctx);
    println!(
        "{:<16} {:>12} {:>12} {:>8}",
        "request", "wasm", "native", "ratio"
    );
    for (name, path) in [
        ("unknown route", "/v1/client/no-such-route"),
        ("metadata", "/v1/client/metadata"),
    ] {
        let request = request(path);
        let wasm_call = per_call(&wasm, &request);
        let native_call = per_call(&native, &request);
        println!(
            "{name:<16} {:>10.2}µs {:>10.2}µs {:>7.1}x",
            wasm_call.as_secs_f64() * 1e6,
            native_call.as_secs_f64() * 1e6,
            wasm_call.as_secs_f64() / native_call.as_secs_f64()
        );
    }
}
