use super::*;
use crate::fake::{ALLOC, Fake};
use crate::http::{Action, Request};

/// The whole body of `fs/ls` of `dir`, and whether it was streamed.
fn ls(host: &Fake, query: &str) -> (Vec<u8>, bool) {
    let req = Request {
        method: "GET".into(),
        path: format!("/v1/client/fs/ls/{ALLOC}"),
        query: query.into(),
        ..Request::default()
    };
    match crate::handle(host, &req) {
        Action::Respond(r) => (r.body, false),
        Action::Stream(start) => {
            let mut body = start.body;
            let mut out = Vec::new();
            loop {
                match body.next(host, 0) {
                    Step::Data(data) => out.extend_from_slice(&data),
                    Step::End => return (out, true),
                    Step::Wait(_) => panic!("a listing never waits"),
                }
            }
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// What Nomad answers for `n` files named `f00000`...: the array written at once.
fn expected(host: &Fake, n: usize, pretty: bool) -> Vec<u8> {
    let entries = (0..n)
        .map(|i| super::super::file_info(&host.stat(ALLOC, &format!("big/f{i:05}")).unwrap(), None))
        .collect();
    crate::wire::json::to_vec(&Value::Array(entries), pretty)
}

#[test]
fn listings_larger_than_a_page_stream_the_same_bytes() {
    let page = PAGE as usize;
    for (n, streamed) in [
        (3, false),
        (page - 1, false),
        (page, true),
        (2 * page + 3, true),
    ] {
        let host = Fake::default();
        // Inserted out of order: the host hands them over sorted.
        for i in (0..n).rev() {
            host.set(&format!("big/f{i:05}"), b"x");
        }
        for (query, pretty) in [("path=big", false), ("path=big&pretty", true)] {
            let (body, was_streamed) = ls(&host, query);
            assert_eq!(was_streamed, streamed, "{n} entries");
            assert_eq!(body, expected(&host, n, pretty), "{n} entries, {query}");
        }
    }
}
