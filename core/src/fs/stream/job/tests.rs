//! A job's logs through the real route against the fake host: this node's allocation, and
//! other nodes' through scripted relays.

use serde_json::Value;

use crate::fake::{ALLOC, Fake, FakeListing};
use crate::fs::stream::{Step, Stream};
use crate::host::{Allocation, Arrived, ClientStatus, NodeRegistration, Registration, Roles};
use crate::http::{Action, Request};

const OUT0: &str = "alloc/logs/web.stdout.0";
const ERR0: &str = "alloc/logs/web.stderr.0";
const T0: i64 = 1_796_130_000_000_000_000;
const A1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const A2: &str = "aaaaaaaa-0000-4000-8000-000000000002";

fn request(query: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        path: "/v1/job/web/logs".into(),
        query: query.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..Request::default()
    }
}

fn start(host: &Fake, req: &Request) -> Result<Stream<(), FakeListing>, (u16, String)> {
    match crate::handle(host, req) {
        Action::Stream(start) => {
            assert_eq!(start.status, 200);
            Ok(start.body)
        }
        Action::Respond(r) => Err((r.status, String::from_utf8(r.body).unwrap())),
        other => panic!("unexpected {other:?}"),
    }
}

/// The frames of `body`, heartbeats left out.
fn frames(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .filter(|f| f.as_object().is_some_and(|o| !o.is_empty()))
        .collect()
}

/// What a frame says, briefly: `alloc task type: text` or `alloc event: message`.
fn said(frame: &Value) -> String {
    let alloc = &frame["Alloc"].as_str().unwrap()[..8];
    if let Some(event) = frame["FileEvent"].as_str() {
        return format!(
            "{alloc} {event}: {}",
            frame["Message"].as_str().unwrap_or("")
        );
    }
    let data = decode(frame["Data"].as_str().unwrap());
    format!(
        "{alloc} {} {}: {}",
        frame["Task"].as_str().unwrap(),
        frame["Type"].as_str().unwrap(),
        String::from_utf8(data).unwrap().trim_end()
    )
}

/// Standard base64, padded (what `encode_into` writes).
fn decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        acc = acc << 6 | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Pull until the end (`until` pulls at most), returning everything said.
fn pull(
    host: &Fake,
    stream: &mut Stream<(), FakeListing>,
    from_ms: u64,
    pulls: u64,
) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    for now in from_ms..from_ms + pulls {
        match stream.next(host, now * 100) {
            Step::Data(d) => out.extend(frames(&d).iter().map(said)),
            Step::End => return (out, true),
            Step::Wait(_) => {}
        }
    }
    (out, false)
}

fn line(alloc: &str, text: &str, time: i64) -> Vec<u8> {
    let mut data = Vec::new();
    crate::wire::b64::encode_into(&mut data, format!("{text}\n").as_bytes());
    format!(
        r#"{{"Alloc":"{alloc}","Data":"{}","File":"alloc/logs/web.stdout.0","Offset":3,"Task":"web","Time":{time},"Type":"stdout"}}"#,
        String::from_utf8(data).unwrap()
    )
    .into_bytes()
}

/// A server (not a client) that knows nodes n1 (allocation A1) and n2 (A2) of job `web`.
fn server() -> Fake {
    let host = Fake::default();
    *host.roles.borrow_mut() = Roles {
        server: true,
        client: false,
        ui: true,
    };
    for (node, alloc) in [("n1", A1), ("n2", A2)] {
        host.registered.borrow_mut().push(Registration {
            node: NodeRegistration {
                id: node.into(),
                name: format!("{node}-name"),
                ..NodeRegistration::default()
            },
            allocations: vec![Allocation {
                id: alloc.into(),
                namespace: "default".into(),
                job_id: "web".into(),
                task_group: "web".into(),
                client_status: ClientStatus::Running,
                tasks: Vec::new(),
            }],
            ..Registration::default()
        });
    }
    host
}

fn script(host: &Fake, node: &str, items: Vec<Arrived>) {
    host.relay_script
        .borrow_mut()
        .insert(node.into(), items.into());
}

#[test]
fn this_nodes_allocation_is_merged_by_arrival_and_tagged() {
    let host = Fake::default();
    host.files.borrow_mut().remove(OUT0);
    host.log_at(OUT0, b"out 1\n", T0 + 10);
    host.log_at(ERR0, b"err 1\n", T0 + 5);
    host.log_at(OUT0, b"out 2\n", T0 + 20);
    let mut stream = start(&host, &request("", &[])).unwrap();
    let (said, ended) = pull(&host, &mut stream, 0, 5);
    assert!(ended);
    let a = &ALLOC[..8];
    assert_eq!(
        said,
        [
            format!("{a} web stderr: err 1"),
            format!("{a} web stdout: out 1"),
            format!("{a} web stdout: out 2"),
        ]
    );
    // A frame is Nomad's, with caravan's keys beside: Go's StreamFrame decodes it.
    let mut stream = start(&host, &request("type=stderr", &[])).unwrap();
    let Step::Data(body) = stream.next(&host, 0) else {
        panic!()
    };
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            r#"{{"Alloc":"{ALLOC}","Data":"ZXJyIDEK","File":"alloc/logs/web.stderr.0","Offset":6,"Task":"web","Time":{},"Type":"stderr"}}"#,
            T0 + 5
        )
    );
}

#[test]
fn parameters_and_refusals() {
    let host = Fake::default();
    let err = |q: &str| start(&host, &request(q, &[])).err().unwrap();
    assert_eq!(
        err("type=both"),
        (400, "log type must be stdout, stderr or all".into())
    );
    assert_eq!(
        err("namespace=other"),
        (404, r#"no allocations of job "web" found"#.into())
    );
    // A task the job does not have: nothing to send.
    let mut stream = start(&host, &request("task=nope", &[])).unwrap();
    assert_eq!(pull(&host, &mut stream, 0, 2), (Vec::new(), true));
    *host.acl_enabled.borrow_mut() = true;
    assert_eq!(err("").0, 403);
}

#[test]
fn a_server_merges_its_nodes_in_arrival_order_and_relays_the_callers_token() {
    let host = server();
    script(
        &host,
        "n1",
        vec![
            Arrived::Data([line(A1, "one", 1), b"{}".to_vec()].concat()),
            // Split mid-frame: kept until the rest comes.
            Arrived::Data(line(A1, "three", 3)[..20].to_vec()),
            Arrived::Data(line(A1, "three", 3)[20..].to_vec()),
            Arrived::End,
        ],
    );
    script(
        &host,
        "n2",
        vec![
            Arrived::Pending,
            // A node may not speak of another node's allocation.
            Arrived::Data([line(A1, "forged", 2), line(A2, "two", 2)].concat()),
            Arrived::End,
        ],
    );
    let req = request("since=2026-12-01T13:00:00Z", &[("x-nomad-token", "secret")]);
    let mut stream = start(&host, &req).unwrap();
    let (said, ended) = pull(&host, &mut stream, 0, 20);
    assert!(ended);
    assert_eq!(
        said,
        [
            "aaaaaaaa web stdout: one",
            "aaaaaaaa web stdout: two",
            "aaaaaaaa web stdout: three"
        ]
    );
    // Each relay is closed once its node has said everything.
    let mut closed = host.relays_closed.borrow().clone();
    closed.sort();
    assert_eq!(closed, [0, 1]);
    let relays = host.relays.borrow();
    assert_eq!(relays.len(), 2);
    assert_eq!(
        relays[0],
        (
            "n1".to_string(),
            "/v1/job/web/logs?namespace=default&type=all&follow=false\
             &since=2026-12-01T13:00:00.000000000Z"
                .to_string(),
            Some("secret".to_string())
        )
    );
}

#[test]
fn following_a_node_that_goes_away_is_reported_once_and_the_rest_goes_on() {
    let host = server();
    script(
        &host,
        "n1",
        vec![
            Arrived::Data(line(A1, "one", 1)),
            Arrived::Failed("connection reset".into()),
        ],
    );
    script(&host, "n2", vec![Arrived::Data(line(A2, "two", 2))]);
    let mut stream = start(&host, &request("follow=true", &[])).unwrap();
    let (said, ended) = pull(&host, &mut stream, 0, 5);
    assert!(!ended);
    assert_eq!(
        said,
        [
            "aaaaaaaa web stdout: one",
            "aaaaaaaa web stdout: two",
            "aaaaaaaa allocation gone: node went away: connection reset"
        ]
    );
    assert_eq!(*host.relays_closed.borrow(), [0]);
    // Still following n2; a new allocation on a new node is added, and read.
    script(&host, "n2", vec![Arrived::Data(line(A2, "more", 4))]);
    host.registered.borrow_mut().push(Registration {
        node: NodeRegistration {
            id: "n3".into(),
            name: "n3-name".into(),
            ..NodeRegistration::default()
        },
        allocations: vec![Allocation {
            id: "bbbbbbbb-0000-4000-8000-000000000003".into(),
            namespace: "default".into(),
            job_id: "web".into(),
            task_group: "web".into(),
            client_status: ClientStatus::Running,
            tasks: Vec::new(),
        }],
        ..Registration::default()
    });
    let (said, _) = pull(&host, &mut stream, 5, 20);
    assert_eq!(
        said,
        ["aaaaaaaa web stdout: more", "bbbbbbbb allocation added: "]
    );
    assert_eq!(host.relays.borrow().len(), 3);
    // A node that goes down: its allocation is reported, once.
    host.down.borrow_mut().insert("n2".into());
    let (said, _) = pull(&host, &mut stream, 25, 30);
    assert_eq!(said, ["aaaaaaaa allocation gone: node n2-name is down"]);
}
