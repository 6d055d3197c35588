//! `limits { ... }`: Nomad's connection limits, and caravan's own minimum body data rate.

use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::Deserialize;

use crate::http::limits::MinDataRate;

/// `limits { http_max_conns_per_client = 100, https_handshake_timeout = "5s" }` (Nomad's
/// names and defaults) and `http_min_body_data_rate = 240`, `http_min_body_data_rate_grace
/// = "5s"` (caravan's own; the anchor is Kestrel's `MinRequestBodyDataRate`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connections one client address may hold open to the HTTP API; 0 means no limit.
    pub http_max_conns_per_client: usize,
    /// How long a client has to complete the TLS handshake (Go duration); `0` means no limit.
    pub https_handshake_timeout: String,
    /// Bytes per second a request body must average once the grace has passed; 0 means no
    /// minimum (the 30 s body timeout still holds).
    pub http_min_body_data_rate: u64,
    /// How long a body may arrive slower than the rate (TCP's slow start, a slow first
    /// packet), as a Go duration.
    pub http_min_body_data_rate_grace: String,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            http_max_conns_per_client: 100,
            https_handshake_timeout: "5s".into(),
            http_min_body_data_rate: MinDataRate::DEFAULT.bytes_per_second,
            http_min_body_data_rate_grace: "5s".into(),
        }
    }
}

impl Limits {
    /// `https_handshake_timeout`; `None` when it is `0` (no limit).
    pub fn handshake_timeout(&self) -> Result<Option<Duration>> {
        let timeout = crate::util::duration::parse(&self.https_handshake_timeout)
            .map_err(|e| anyhow!("limits.https_handshake_timeout: {e}"))?;
        Ok((!timeout.is_zero()).then_some(timeout))
    }

    /// The minimum body data rate; `None` when `http_min_body_data_rate` is 0.
    pub fn min_body_rate(&self) -> Result<Option<MinDataRate>> {
        let grace = crate::util::duration::parse(&self.http_min_body_data_rate_grace)
            .map_err(|e| anyhow!("limits.http_min_body_data_rate_grace: {e}"))?;
        Ok((self.http_min_body_data_rate != 0).then_some(MinDataRate {
            bytes_per_second: self.http_min_body_data_rate,
            grace,
        }))
    }
}

#[cfg(test)]
mod tests;
