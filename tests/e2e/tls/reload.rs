//! Certificate reloads (files replaced, SIGHUP) drop no open stream, and a bad new
//! certificate keeps the old one serving.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use base64::Engine as _;
use rustls::{ClientConfig, StreamOwned};

use crate::support::{wait_for, wait_log, wait_log_after, wait_until};

use super::{
    Ca, client_config, connect, get, replace, served_cert, server_leaf, start, status_line,
};

/// The data of a follow stream's frames so far (an HTTP/1.0 request: the body is the
/// frames, unchunked, until the connection ends).
fn frames_data(body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for frame in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
        let Ok(frame) = frame else { break };
        if let Some(text) = frame.get("Data").and_then(|d| d.as_str()) {
            data.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap(),
            );
        }
    }
    data
}

/// Requests on fresh TLS connections from two threads until [`Load::finish`]: each either
/// answers 200 or is kept as a failure, saying what went wrong.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(addr: &str, config: Arc<ClientConfig>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let threads = (0..2)
            .map(|_| {
                let (addr, config) = (addr.to_string(), config.clone());
                let (stop, answered) = (stop.clone(), answered.clone());
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        match get(&addr, config.clone(), "/v1/client/metadata") {
                            Ok(raw) if status_line(&raw) == "HTTP/1.1 200 OK" => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(raw) => failures.push(status_line(&raw)),
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    failures
                })
            })
            .collect();
        Self {
            stop,
            answered,
            threads,
        }
    }

    /// Wait until `more` requests beyond those answered so far have been answered, so the
    /// load is known to span whatever happened before this call.
    fn wait_for_more(&self, more: u64) {
        let target = self.answered.load(Ordering::Relaxed) + more;
        wait_until("the load to go on", || {
            self.answered.load(Ordering::Relaxed) >= target
        });
    }

    /// Stop: how many requests were answered, and every failure.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (self.answered.load(Ordering::Relaxed), failures)
    }
}

#[test]
fn certificates_reload_without_dropping_streams_and_a_bad_one_keeps_the_old() {
    let ca = Ca::new("caravan test CA");
    let first = server_leaf(&ca);
    let setup = start(&ca, &first, "");
    let agent = &setup.agent;
    let addr = &agent.addr;
    let config = client_config(&ca, None);

    // A follow stream, open before the swap.
    let file = agent.alloc_dir().join("alloc/data/followed.log");
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("before\n");
    let mut stream = connect(addr, config.clone()).unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/client/fs/stream/{}?path=alloc/data/followed.log&follow=true HTTP/1.0\r\n\r\n",
                agent.demo_alloc
            )
            .as_bytes(),
        )
        .unwrap();
    let mut raw = Vec::new();
    let read_until = |raw: &mut Vec<u8>, stream: &mut StreamOwned<_, _>, marker: &str| {
        wait_until(marker, || {
            let mut buf = [0u8; 16384];
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended");
            raw.extend_from_slice(&buf[..n]);
            let body = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&[][..], |p| &raw[p + 4..]);
            String::from_utf8_lossy(&frames_data(body)).contains(marker)
        })
    };
    read_until(&mut raw, &mut stream, "before");
    // New connections all the while: not one may fail across every swap below.
    let load = Load::start(addr, config.clone());
    load.wait_for_more(5);

    // New files on disk: new connections get the new certificate...
    let second = server_leaf(&ca);
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server-key.pem"), &second.key_pem);
    replace(&setup.tls_dir.join("server.pem"), &second.cert_pem);
    wait_for("the new certificate to be served", || {
        (served_cert(addr, config.clone())? == second.der).then_some(())
    });
    wait_log_after(agent, from, "TLS reload (file change): serving certificate");
    // ...and the stream opened before keeps flowing.
    append("after the swap\n");
    read_until(&mut raw, &mut stream, "after the swap");
    load.wait_for_more(5);

    // A bad certificate keeps the one in use, and says why.
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server.pem"), "not a certificate\n");
    wait_log_after(agent, from, "failed, keeping the certificate in use");
    assert_eq!(served_cert(addr, config.clone()), Some(second.der.clone()));
    let raw_get = get(addr, config.clone(), "/v1/client/metadata").unwrap();
    assert_eq!(status_line(&raw_get), "HTTP/1.1 200 OK");
    // A certificate that does not match the key is refused too.
    let from = agent.log().len();
    replace(&setup.tls_dir.join("server.pem"), &first.cert_pem);
    wait_log_after(agent, from, "failed, keeping the certificate in use");
    assert_eq!(served_cert(addr, config.clone()), Some(second.der.clone()));

    // SIGHUP reloads the certificates and the core alike.
    let third = server_leaf(&ca);
    replace(&setup.tls_dir.join("server-key.pem"), &third.key_pem);
    replace(&setup.tls_dir.join("server.pem"), &third.cert_pem);
    wait_for("the third certificate to be served", || {
        (served_cert(addr, config.clone())? == third.der).then_some(())
    });
    let from = agent.log().len();
    agent.signal(rustix::process::Signal::HUP);
    wait_log_after(agent, from, "TLS reload (SIGHUP): serving certificate");
    wait_log_after(agent, from, "re-checked (SIGHUP)");
    append("still here\n");
    read_until(&mut raw, &mut stream, "still here");
    load.wait_for_more(5);
    let (answered, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:?}",
        failures.len(),
        answered + failures.len() as u64
    );
    wait_log(agent, "TLS on the HTTP API");
}
