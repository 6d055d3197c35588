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
mod tests {
    use super::*;
    use crate::agent::config::FileConfig;

    fn parse(text: &str) -> Result<FileConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("agent.hcl");
        std::fs::write(&path, text)?;
        Ok(FileConfig::load(&path)?.config)
    }

    #[test]
    fn kestrels_rate_by_default_and_configurable() {
        let default = FileConfig::default().limits.min_body_rate().unwrap();
        assert_eq!(
            default,
            Some(MinDataRate {
                bytes_per_second: 240,
                grace: Duration::from_secs(5)
            })
        );
        let config = parse(
            "limits {\n http_min_body_data_rate = 1000\n http_min_body_data_rate_grace = \"250ms\"\n}",
        )
        .unwrap();
        assert_eq!(
            config.limits.min_body_rate().unwrap(),
            Some(MinDataRate {
                bytes_per_second: 1000,
                grace: Duration::from_millis(250)
            })
        );
        let off = parse("limits {\n http_min_body_data_rate = 0\n}").unwrap();
        assert_eq!(off.limits.min_body_rate().unwrap(), None);
    }

    #[test]
    fn a_bad_grace_or_rate_is_an_error() {
        let bad = parse("limits {\n http_min_body_data_rate_grace = \"soon\"\n}").unwrap();
        let err = bad.check().unwrap_err().to_string();
        assert!(
            err.contains("limits.http_min_body_data_rate_grace"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            parse("limits {\n http_min_body_data_rate = \"fast\"\n}").unwrap_err()
        );
        assert!(err.contains("http_min_body_data_rate"), "{err}");
    }
}
