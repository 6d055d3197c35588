//! `fs/ls` of a directory of any size: the host hands the entries over a page at a time
//! (`filesystem.listing`), and a listing larger than one page is answered as a body the host
//! pulls, one page of Nomad's JSON array per pull. The core's memory then bounds a page, not
//! the directory: a million entries list as well as ten.

use serde_json::Value;

use crate::fs::stream::Step;
use crate::host::{FileInfo, Host, LogLevel};
use crate::wire::json::ArrayWriter;

/// Entries asked of the host at a time (about 120 KiB of JSON).
pub const PAGE: u32 = 1024;

/// The rest of a listing's JSON array, one page per pull.
pub struct ListingBody<L> {
    listing: L,
    /// The page read before answering (it decided that the answer is streamed).
    first: Option<Vec<FileInfo>>,
    writer: Option<ArrayWriter>,
    encode: fn(&FileInfo) -> Value,
}

impl<L> ListingBody<L> {
    /// The body of a listing whose first (full) page is `first`; `encode` writes one entry.
    pub fn new(
        listing: L,
        first: Vec<FileInfo>,
        pretty: bool,
        encode: fn(&FileInfo) -> Value,
    ) -> Self {
        Self {
            listing,
            first: Some(first),
            writer: Some(ArrayWriter::new(pretty)),
            encode,
        }
    }

    /// The next page of the array; the closing bracket with the last one.
    pub fn next(&mut self, host: &impl Host<Listing = L>) -> Step {
        let Some(writer) = self.writer.as_mut() else {
            return Step::End;
        };
        let page = match self.first.take() {
            Some(page) => page,
            None => match host.list_next(&self.listing, PAGE) {
                Ok(page) => page,
                Err(err) => {
                    // The status is sent: as Go's encoder would, stop mid-array, and say why.
                    host.log(LogLevel::Warn, &format!("fs/ls: listing failed: {err}"));
                    self.writer = None;
                    return Step::End;
                }
            },
        };
        let mut out = String::new();
        for info in &page {
            writer.item(&mut out, &(self.encode)(info));
        }
        if page.len() < PAGE as usize
            && let Some(writer) = self.writer.take()
        {
            writer.finish(&mut out);
        }
        Step::Data(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
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
            .map(|i| {
                super::super::file_info(&host.stat(ALLOC, &format!("big/f{i:05}")).unwrap(), None)
            })
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
}
