//! Agent configuration in Nomad's shape: an HCL (or JSON) file, then flags on top.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Nomad's default HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 4646;

/// The parts of Nomad's agent configuration caravan understands.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub bind_addr: Option<String>,
    pub ports: Ports,
    pub client: ClientConfig,
    pub acl: AclConfig,
    pub core: CoreConfig,
}

/// `ports { http = N }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ports {
    pub http: Option<u16>,
}

/// `client { ... }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClientConfig {
    pub meta: BTreeMap<String, String>,
    /// Where allocation specs are read from (default `<data_dir>/specs`).
    pub allocations_dir: Option<PathBuf>,
    /// Where allocation directories live (default `<data_dir>/alloc`).
    pub alloc_dir: Option<PathBuf>,
}

/// `core { call_timeout = "30s" }`: how the wasm core is run.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CoreConfig {
    /// Deadline of each call into the core, in Go's duration syntax.
    pub call_timeout: Option<String>,
}

/// `acl { enabled = bool }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AclConfig {
    pub enabled: bool,
}

impl FileConfig {
    /// Read a config file; `.json` files are JSON, anything else HCL.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file {}", path.display()))?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(anyhow::Error::from)
        } else {
            hcl::from_str(&text).map_err(anyhow::Error::from)
        };
        parsed.with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Later files win, as Nomad merges several `-config` files.
    pub fn merge(&mut self, other: FileConfig) {
        if other.data_dir.is_some() {
            self.data_dir = other.data_dir;
        }
        if other.bind_addr.is_some() {
            self.bind_addr = other.bind_addr;
        }
        if other.ports.http.is_some() {
            self.ports.http = other.ports.http;
        }
        self.client.meta.extend(other.client.meta);
        if other.client.allocations_dir.is_some() {
            self.client.allocations_dir = other.client.allocations_dir;
        }
        if other.client.alloc_dir.is_some() {
            self.client.alloc_dir = other.client.alloc_dir;
        }
        self.acl.enabled |= other.acl.enabled;
        if other.core.call_timeout.is_some() {
            self.core.call_timeout = other.core.call_timeout;
        }
    }

    /// `core.call_timeout`, if set.
    pub fn call_timeout(&self) -> Result<Option<Duration>> {
        self.core
            .call_timeout
            .as_deref()
            .map(|text| {
                call_timeout(text).with_context(|| format!("invalid core.call_timeout {text:?}"))
            })
            .transpose()
    }

    /// The address to listen on.
    pub fn http_addr(&self) -> Result<SocketAddr> {
        let ip: IpAddr = match self.bind_addr.as_deref() {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(addr) => addr
                .parse()
                .with_context(|| format!("invalid bind_addr {addr:?}"))?,
        };
        Ok(SocketAddr::new(
            ip,
            self.ports.http.unwrap_or(DEFAULT_HTTP_PORT),
        ))
    }

    /// Reject settings caravan cannot honour yet rather than ignoring them silently.
    pub fn check(&self) -> Result<()> {
        self.call_timeout()?;
        if self.acl.enabled {
            bail!(
                "acl.enabled = true is not supported yet: caravan cannot enforce ACLs in this version"
            );
        }
        Ok(())
    }
}

/// A core call deadline, from a flag or the config file: at least one epoch tick, the
/// granularity at which deadlines are enforced.
pub fn call_timeout(text: &str) -> Result<Duration> {
    let timeout = crate::duration::parse(text).map_err(anyhow::Error::msg)?;
    let tick = crate::runtime::EPOCH_TICK;
    if timeout < tick {
        bail!(
            "must be at least {} (deadlines are checked every {0})",
            crate::duration::format(tick)
        );
    }
    Ok(timeout)
}

/// Nomad's built-in static node metadata, added unless configured.
pub fn default_static_meta() -> BTreeMap<String, String> {
    let envoy = "docker.io/envoyproxy/envoy:v${NOMAD_envoy_version}";
    [
        ("connect.sidecar_image", envoy),
        ("connect.gateway_image", envoy),
        ("connect.log_level", "info"),
        ("connect.proxy_concurrency", "1"),
        ("connect.transparent_proxy.default_uid", "101"),
        ("connect.transparent_proxy.default_outbound_port", "15001"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nomad_shaped_hcl() {
        let config: FileConfig = hcl::from_str(
            r#"
            data_dir  = "/var/lib/caravan"
            bind_addr = "127.0.0.1"
            ports { http = 5656 }
            client {
              meta {
                rack = "r1"
              }
              allocations_dir = "/etc/caravan/allocs"
            }
            acl { enabled = false }
            "#,
        )
        .unwrap();
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/caravan")));
        assert_eq!(
            config.http_addr().unwrap(),
            "127.0.0.1:5656".parse().unwrap()
        );
        assert_eq!(config.client.meta["rack"], "r1");
        let dotted: FileConfig =
            hcl::from_str("client {\n meta = { \"zone.name\" = \"a\" }\n}").unwrap();
        assert_eq!(dotted.client.meta["zone.name"], "a");
        assert_eq!(
            config.client.allocations_dir,
            Some(PathBuf::from("/etc/caravan/allocs"))
        );
    }

    #[test]
    fn the_core_call_timeout_is_a_go_duration() {
        let config: FileConfig = hcl::from_str("core {\n call_timeout = \"1m30s\"\n}").unwrap();
        assert_eq!(
            config.call_timeout().unwrap(),
            Some(Duration::from_secs(90))
        );
        let bad: FileConfig = hcl::from_str("core {\n call_timeout = \"soon\"\n}").unwrap();
        assert!(bad.check().is_err());
        let tiny: FileConfig = hcl::from_str("core {\n call_timeout = \"1ms\"\n}").unwrap();
        assert!(tiny.check().is_err());
        assert_eq!(FileConfig::default().call_timeout().unwrap(), None);
    }

    #[test]
    fn enabling_acls_is_refused_until_supported() {
        let config: FileConfig = hcl::from_str("acl { enabled = true }").unwrap();
        assert!(config.check().is_err());
    }
}
