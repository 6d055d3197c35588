//! Agent configuration in Nomad's shape: an HCL (or JSON) file, then flags on top.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::allocs::gc::GcConfig;

pub use super::config_limits::Limits;

/// Nomad's default HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 4646;

/// The parts of Nomad's agent configuration caravan understands.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Where the agent keeps its state, specs and allocations.
    pub data_dir: Option<PathBuf>,
    /// The address the HTTP API listens on (default `0.0.0.0`).
    pub bind_addr: Option<String>,
    /// `ports { }`.
    pub ports: Ports,
    /// `client { }`.
    pub client: ClientConfig,
    /// `server { }`.
    pub server: ServerConfig,
    /// `acl { }`.
    pub acl: AclConfig,
    /// `core { }` (caravan's own): the wasm core and its limits.
    pub core: CoreConfig,
    /// The node's name (default: the host name).
    pub name: Option<String>,
    /// The node's datacenter (default `dc1`).
    pub datacenter: Option<String>,
    /// `advertise { }`.
    pub advertise: Advertise,
    /// `limits { }`: Nomad's connection and request limits.
    pub limits: Limits,
    /// Nomad's `log_level`: TRACE, DEBUG, INFO (default), WARN or ERROR, in any case.
    pub log_level: Option<String>,
    /// `tls { }`: the HTTP API over TLS, and calls between agents.
    pub tls: TlsConfig,
    /// `ui { }`.
    pub ui: UiConfig,
}

/// `ui { enabled = false }`: Nomad's block; the web UI at `/ui/` is on unless it says so.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// `false` turns the web UI off.
    pub enabled: Option<bool>,
}

impl UiConfig {
    /// Whether `/ui/` serves the web UI (default: yes, as in Nomad).
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// `tls { ... }`, Nomad's names: TLS (and mutual TLS) on the HTTP API.
#[derive(Debug, Default, Deserialize, PartialEq, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve the HTTP API over TLS.
    pub http: bool,
    /// The CA that signs client certificates (required with `verify_https_client`).
    pub ca_file: Option<PathBuf>,
    /// This agent's certificate (chain), PEM.
    pub cert_file: Option<PathBuf>,
    /// Its private key, PEM.
    pub key_file: Option<PathBuf>,
    /// Refuse, during the handshake, clients without a certificate signed by `ca_file`.
    pub verify_https_client: bool,
    /// For outgoing connections to other agents: check the peer's certificate names its role
    /// (`server.<region>.nomad`). Accepted here; used by the agent-to-agent calls.
    pub verify_server_hostname: bool,
    /// `tls12` (the default) or `tls13`.
    pub tls_min_version: Option<String>,
}

/// `server { enabled = bool, registry = "memory" | "etcd", etcd { ... } }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Run as a server.
    pub enabled: bool,
    /// caravan's own: where the node registry lives, `memory` (the default: each server
    /// its own, filled by heartbeats) or `etcd` (shared by every server through etcd).
    pub registry: Option<String>,
    /// caravan's own: the etcd cluster of `registry = "etcd"`.
    pub etcd: Option<EtcdConfig>,
}

/// `server { etcd { endpoints = [...], prefix = "/caravan/", ... } }`: caravan's own.
#[derive(Debug, Default, Deserialize, PartialEq, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct EtcdConfig {
    /// `host:port` or `http(s)://host:port` of etcd's client URLs.
    pub endpoints: Vec<String>,
    /// Where the registry's keys live (default `/caravan/`): `<prefix>nodes/<node-id>`.
    pub prefix: Option<String>,
    /// The CA that signs etcd's certificate (https endpoints).
    pub ca_file: Option<PathBuf>,
    /// The certificate (and `key_file`, its key) presented to etcd, for its client auth.
    pub cert_file: Option<PathBuf>,
    /// The key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// etcd's own authentication (`etcdctl user add`).
    pub username: Option<String>,
    /// The password of `username`.
    pub password: Option<String>,
}

impl ServerConfig {
    /// The etcd settings when `registry = "etcd"`; `None` for the in-memory registry.
    pub fn etcd_registry(&self) -> Result<Option<&EtcdConfig>> {
        match self.registry.as_deref() {
            None | Some("memory") => Ok(None),
            Some("etcd") => {
                let etcd = self
                    .etcd
                    .as_ref()
                    .filter(|e| !e.endpoints.is_empty())
                    .context("server.registry = \"etcd\" needs server.etcd.endpoints")?;
                if etcd.cert_file.is_some() != etcd.key_file.is_some() {
                    bail!("server.etcd.cert_file and server.etcd.key_file go together");
                }
                if etcd.username.is_some() != etcd.password.is_some() {
                    bail!("server.etcd.username and server.etcd.password go together");
                }
                if let Some(prefix) = &etcd.prefix
                    && prefix.is_empty()
                {
                    bail!("server.etcd.prefix must not be empty");
                }
                Ok(Some(etcd))
            }
            Some(other) => {
                bail!("server.registry = {other:?}: expected \"memory\" or \"etcd\"")
            }
        }
    }
}

/// `advertise { http = "host:port" }`: where others reach this agent.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Advertise {
    /// The address (`host:port`) others use for the HTTP API.
    pub http: Option<String>,
}

/// `ports { http = N }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    /// The HTTP API's port (default 4646).
    pub http: Option<u16>,
}

/// `client { ... }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Static node metadata (`meta { key = "value" }`).
    pub meta: BTreeMap<String, String>,
    /// Where allocation specs are read from (default `<data_dir>/specs`).
    pub allocations_dir: Option<PathBuf>,
    /// Where allocation directories live (default `<data_dir>/alloc`).
    pub alloc_dir: Option<PathBuf>,
    /// Run allocations (default: yes, unless this agent is a server and nothing enables it).
    pub enabled: Option<bool>,
    /// `host:port` of the servers to register with.
    pub servers: Vec<String>,
    /// caravan's own: the ACL token (with `node:write`) the heartbeat registers with. Nomad
    /// has no such key (its clients prove themselves over RPC with the node secret).
    /// Default: `NOMAD_TOKEN` in the agent's environment.
    pub node_token: Option<String>,
    /// How often terminal allocations are considered for collection (Go duration).
    pub gc_interval: Option<String>,
    /// How many allocations are tracked before terminal ones are collected.
    pub gc_max_allocs: Option<usize>,
    /// Disk usage (percent) of the alloc dir's filesystem that triggers collection.
    pub gc_disk_usage_threshold: Option<f64>,
    /// Inode usage (percent) of the alloc dir's filesystem that triggers collection.
    pub gc_inode_usage_threshold: Option<f64>,
}

impl ClientConfig {
    /// The garbage collector's settings: Nomad's defaults where unset.
    pub fn gc(&self) -> Result<GcConfig> {
        let mut gc = GcConfig::default();
        if let Some(interval) = &self.gc_interval {
            gc.interval = crate::util::duration::parse(interval)
                .map_err(|e| anyhow::anyhow!("client.gc_interval: {e}"))?;
            if gc.interval.is_zero() {
                bail!("client.gc_interval must be positive");
            }
        }
        if let Some(max) = self.gc_max_allocs {
            gc.max_allocs = max;
        }
        for (name, value, field) in [
            (
                "gc_disk_usage_threshold",
                self.gc_disk_usage_threshold,
                &mut gc.disk_usage_threshold,
            ),
            (
                "gc_inode_usage_threshold",
                self.gc_inode_usage_threshold,
                &mut gc.inode_usage_threshold,
            ),
        ] {
            if let Some(value) = value {
                if !(0.0..=100.0).contains(&value) {
                    bail!("client.{name} must be a percentage, not {value}");
                }
                *field = value;
            }
        }
        Ok(gc)
    }
}

/// `core { call_timeout = "30s" }`: how the wasm core is run.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoreConfig {
    /// Deadline of each call into the core, in Go's duration syntax.
    pub call_timeout: Option<String>,
}

/// `acl { enabled = bool, token_ttl = "30s", policy_ttl = "30s" }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AclConfig {
    /// Enforce ACLs.
    pub enabled: bool,
    /// How long a client serves a token its servers resolved before asking again.
    pub token_ttl: Option<String>,
    /// Likewise for policies (fetched with their token: the shorter TTL applies to both).
    pub policy_ttl: Option<String>,
}

impl AclConfig {
    /// How long a client keeps its servers' answers: the shorter of `token_ttl` and
    /// `policy_ttl`, 30 s (Nomad's default) when neither is set.
    pub fn cache_ttl(&self) -> Result<Duration> {
        let mut ttl = crate::capabilities::acl::remote::DEFAULT_TTL;
        for (key, text) in [
            ("token_ttl", &self.token_ttl),
            ("policy_ttl", &self.policy_ttl),
        ] {
            if let Some(text) = text {
                let parsed = crate::util::duration::parse(text)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("invalid acl.{key} {text:?}"))?;
                ttl = ttl.min(parsed);
            }
        }
        Ok(ttl)
    }
}

impl FileConfig {
    /// Read a config file; `.json` files are JSON, anything else HCL. A key Nomad does not
    /// know, or a value of the wrong type, is an error naming the file, line and key; a
    /// Nomad setting caravan does not implement is ignored, with one warning returned for
    /// the caller to log (the log is set up from the configuration, so after this).
    pub fn load(path: &Path) -> Result<super::config_keys::Parsed<Self>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file {}", path.display()))?;
        let json = path.extension().is_some_and(|e| e == "json");
        super::config_keys::parse(path, &text, json)
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
        if other.client.node_token.is_some() {
            self.client.node_token = other.client.node_token;
        }
        if other.client.allocations_dir.is_some() {
            self.client.allocations_dir = other.client.allocations_dir;
        }
        if other.client.alloc_dir.is_some() {
            self.client.alloc_dir = other.client.alloc_dir;
        }
        if other.client.gc_interval.is_some() {
            self.client.gc_interval = other.client.gc_interval;
        }
        if other.client.gc_max_allocs.is_some() {
            self.client.gc_max_allocs = other.client.gc_max_allocs;
        }
        if other.client.gc_disk_usage_threshold.is_some() {
            self.client.gc_disk_usage_threshold = other.client.gc_disk_usage_threshold;
        }
        if other.client.gc_inode_usage_threshold.is_some() {
            self.client.gc_inode_usage_threshold = other.client.gc_inode_usage_threshold;
        }
        self.acl.enabled |= other.acl.enabled;
        if other.acl.token_ttl.is_some() {
            self.acl.token_ttl = other.acl.token_ttl;
        }
        if other.acl.policy_ttl.is_some() {
            self.acl.policy_ttl = other.acl.policy_ttl;
        }
        self.server.enabled |= other.server.enabled;
        if other.server.registry.is_some() {
            self.server.registry = other.server.registry;
        }
        if other.server.etcd.is_some() {
            self.server.etcd = other.server.etcd;
        }
        if other.client.enabled.is_some() {
            self.client.enabled = other.client.enabled;
        }
        self.client.servers.extend(other.client.servers);
        if other.name.is_some() {
            self.name = other.name;
        }
        if other.datacenter.is_some() {
            self.datacenter = other.datacenter;
        }
        if other.limits != Limits::default() {
            self.limits = other.limits;
        }
        if other.tls != TlsConfig::default() {
            self.tls = other.tls;
        }
        if other.advertise.http.is_some() {
            self.advertise.http = other.advertise.http;
        }
        if other.log_level.is_some() {
            self.log_level = other.log_level;
        }
        if other.core.call_timeout.is_some() {
            self.core.call_timeout = other.core.call_timeout;
        }
        if other.ui.enabled.is_some() {
            self.ui.enabled = other.ui.enabled;
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

    /// Reject settings that cannot work, at start-up rather than later.
    pub fn check(&self) -> Result<()> {
        let errors: Vec<String> = self.problems().into_iter().map(|(_, e)| e).collect();
        match errors.len() {
            0 => Ok(()),
            _ => Err(super::config_keys::Invalid(errors).into()),
        }
    }

    /// Every setting that cannot work: the key it is about (when its message does not
    /// start with one) and the message.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let level = || match &self.log_level {
            Some(level) => crate::util::logging::check_level(level)
                .context("invalid log_level")
                .map(drop),
            None => Ok(()),
        };
        // Every check, so that every mistake is reported at once.
        [
            ("core.call_timeout", self.call_timeout().map(drop)),
            ("client", self.client.gc().map(drop)),
            ("log_level", level()),
            ("limits", self.limits.handshake_timeout().map(drop)),
            ("limits", self.limits.min_body_rate().map(drop)),
            ("tls", self.tls.check()),
            ("server", self.server.etcd_registry().map(drop)),
        ]
        .into_iter()
        .filter_map(|(key, result)| result.err().map(|err| (key, format!("{err:#}"))))
        .collect()
    }
}

impl TlsConfig {
    /// With `http = true`, a certificate and key are required, and a CA with
    /// `verify_https_client`.
    pub fn check(&self) -> Result<()> {
        if !self.http {
            return Ok(());
        }
        if self.cert_file.is_none() || self.key_file.is_none() {
            bail!("tls.http = true needs tls.cert_file and tls.key_file");
        }
        if self.verify_https_client && self.ca_file.is_none() {
            bail!(
                "tls.verify_https_client = true needs tls.ca_file (the CA of client certificates)"
            );
        }
        match self.tls_min_version.as_deref() {
            None | Some("tls12" | "tls13") => Ok(()),
            Some(v @ ("tls10" | "tls11")) => {
                bail!("tls.tls_min_version = {v:?}: caravan speaks TLS 1.2 and later only")
            }
            Some(v) => bail!("tls.tls_min_version = {v:?}: expected \"tls12\" or \"tls13\""),
        }
    }
}

/// A core call deadline, from a flag or the config file: at least one epoch tick, the
/// granularity at which deadlines are enforced.
pub fn call_timeout(text: &str) -> Result<Duration> {
    let timeout = crate::util::duration::parse(text).map_err(anyhow::Error::msg)?;
    let tick = crate::runtime::EPOCH_TICK;
    if timeout < tick {
        bail!(
            "must be at least {} (deadlines are checked every {0})",
            crate::util::duration::format(tick)
        );
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests;
