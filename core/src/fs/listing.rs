//! `fs/ls` of a directory of any size: the host hands the entries over a page at a time
//! (`filesystem.listing`), and a listing larger than one page is answered as a body the host
//! pulls, one page of Nomad's JSON array per pull. The core's memory then bounds a page, not
//! the directory: a million entries list as well as ten.

use serde_json::Value;

use crate::host::{FileInfo, Host, LogLevel};
use crate::http::Step;
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
mod tests;
