//! Nomad's stream frames as `fs/logs` and `fs/stream` send them: JSON objects concatenated
//! with no separator (`{"Data":"…","File":"…","Offset":40}{}{}…`), `Data` in base64, `{}`
//! heartbeats, and `FileEvent` (`file deleted`, `file truncated`). Bytes arrive in chunks
//! that need not end on a frame's boundary, so the decoder keeps what it could not finish.
//! If the agent fails mid-stream it appends its error text to the body: that text is
//! reported as an error, not silently dropped.

use anyhow::{Result, anyhow};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// One frame; every field may be absent (a heartbeat has none). A job's logs
/// (`/v1/job/:job_id/logs`) add caravan's keys: whose line it is, and when it arrived.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Frame {
    /// The allocation a job's line belongs to.
    #[serde(rename = "Alloc", default, skip_serializing_if = "Option::is_none")]
    pub alloc: Option<String>,
    /// Base64 of the bytes.
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The file the bytes come from.
    #[serde(rename = "File", default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What happened: `file deleted`, `file truncated`, or a job's `allocation added`/`gone`.
    #[serde(rename = "FileEvent", default, skip_serializing_if = "Option::is_none")]
    pub file_event: Option<String>,
    /// Why an allocation of a job's logs is gone.
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the bytes start in the file.
    #[serde(rename = "Offset", default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The task a job's line belongs to.
    #[serde(rename = "Task", default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Unix nanoseconds.
    #[serde(rename = "Time", default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// `stdout` or `stderr`, for a job's line.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Frame {
    /// A heartbeat: nothing but proof that the stream is alive.
    pub fn is_heartbeat(&self) -> bool {
        self.data.as_deref().is_none_or(str::is_empty)
            && self.file.as_deref().is_none_or(str::is_empty)
            && self.file_event.as_deref().is_none_or(str::is_empty)
            && self.offset.is_none_or(|o| o == 0)
            && self.alloc.is_none()
    }

    /// The decoded `Data` (empty when there is none).
    pub fn bytes(&self) -> Result<Vec<u8>> {
        match self.data.as_deref() {
            None | Some("") => Ok(Vec::new()),
            Some(data) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|err| anyhow!("a frame's Data is not base64: {err}")),
        }
    }
}

/// Turns chunks of a body into frames.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `chunk` and return every frame it completes, in order. Anything that is not a
    /// frame (the agent's error text appended mid-stream) is an error carrying that text.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Frame>> {
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Frame>();
        let mut consumed = 0;
        let failure = loop {
            match stream.next() {
                None => break None,
                Some(Ok(frame)) => {
                    consumed = stream.byte_offset();
                    frames.push(frame);
                }
                Some(Err(err)) if err.is_eof() => break None,
                Some(Err(_)) => break Some(consumed),
            }
        };
        if let Some(at) = failure {
            let text = String::from_utf8_lossy(&self.pending[at..])
                .trim()
                .to_string();
            self.pending.clear();
            return Err(anyhow!("the agent's stream ended with an error: {text}"));
        }
        self.pending.drain(..consumed);
        Ok(frames)
    }

    /// The body ended: anything left over that is not whitespace is an error.
    pub fn finish(&mut self) -> Result<()> {
        let rest = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&rest);
        if text.trim().is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "the agent's stream ended with an error: {}",
                text.trim()
            ))
        }
    }
}

#[cfg(test)]
mod tests;
