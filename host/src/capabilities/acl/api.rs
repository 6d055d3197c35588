//! ACL policies and tokens written through the ACL API (`/v1/acl/*`): their records and the
//! state in memory. They are kept durably in the agent's state database (or, on a server
//! with `registry = "etcd"`, in etcd, whose watch brings every server's writes here; see
//! `backend.rs` and `etcd_acl.rs`).
//!
//! Records are JSON, keyed `policy/<name>` and `token/<accessor>`. A token record holds the
//! SHA-256 of its secret, never the secret: a copy of the state (the database file, etcd's
//! data) does not hand out a working token. Secrets are random UUIDs (122 bits), so a plain
//! hash cannot be reversed by guessing. A secret is found by its hash, and the hashes are
//! then compared in constant time.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wit::acl::{PolicyDocument, Token, TokenType};
use crate::wit::policy::CompiledPolicy;
use crate::wit::types::Timestamp;

/// The core's `compile-policy`, for policies that arrive without their compiled form.
pub type Compile<'a> = &'a dyn Fn(&str, &str) -> Result<CompiledPolicy, String>;

/// A policy record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyRecord {
    /// The policy's unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// HCL or JSON, as given.
    pub rules: String,
    /// The index it was created at.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
}

/// A token record: Nomad's `ACLToken` fields, with a hash instead of the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenRecord {
    /// The public id.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// SHA-256 of the secret id, hex.
    #[serde(rename = "SecretSHA256")]
    pub secret_sha256: String,
    /// A label for people.
    pub name: String,
    /// `client` or `management`.
    #[serde(rename = "Type")]
    pub token_type: String,
    /// The policies of a client token.
    pub policies: Vec<String>,
    /// Nomad's `Global` flag, kept as given.
    pub global: bool,
    /// Seconds and nanoseconds since the epoch.
    pub create_time: (i64, u32),
    /// When it stops resolving (seconds, nanoseconds since the epoch); `None`: never.
    pub expiration_time: Option<(i64, u32)>,
    /// Nomad's `ExpirationTTL` as given at creation, in nanoseconds (0: none).
    #[serde(rename = "ExpirationTTL")]
    pub expiration_ttl: u64,
    /// The index it was created at.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
}

impl TokenRecord {
    /// The token in the contract's terms.
    pub fn token(&self) -> Token {
        let stamp = |(seconds, nanoseconds): (i64, u32)| Timestamp {
            seconds,
            nanoseconds,
        };
        Token {
            accessor_id: self.accessor_id.clone(),
            name: self.name.clone(),
            token_type: if self.token_type == "management" {
                TokenType::Management
            } else {
                TokenType::Client
            },
            policies: self.policies.clone(),
            create_time: stamp(self.create_time),
            expiration_time: self.expiration_time.map(stamp),
            expiration_ttl: self.expiration_ttl,
            global: self.global,
            create_index: self.create_index,
            modify_index: self.modify_index,
            from_file: false,
        }
    }

    /// A record of `token` (as the core decided it) with this secret's hash.
    pub fn new(token: &Token, secret_sha256: String) -> Self {
        let pair = |t: &Timestamp| (t.seconds, t.nanoseconds);
        Self {
            accessor_id: token.accessor_id.clone(),
            secret_sha256,
            name: token.name.clone(),
            token_type: match token.token_type {
                TokenType::Management => "management".into(),
                TokenType::Client => "client".into(),
            },
            policies: token.policies.clone(),
            global: token.global,
            create_time: pair(&token.create_time),
            expiration_time: token.expiration_time.as_ref().map(pair),
            expiration_ttl: token.expiration_ttl,
            create_index: token.create_index,
            modify_index: token.modify_index,
        }
    }

    /// Whether its expiration time has passed.
    pub fn expired(&self) -> bool {
        self.expiration_time.is_some_and(|(s, ns)| {
            let at = if s >= 0 {
                UNIX_EPOCH + std::time::Duration::new(s as u64, ns)
            } else {
                UNIX_EPOCH
            };
            at <= SystemTime::now()
        })
    }
}

/// The SHA-256 of a secret, hex: how token records name their secret.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal, taking the same time whichever byte differs.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the API wrote, as this agent knows it.
#[derive(Default)]
pub struct ApiState {
    /// By name.
    pub policies: BTreeMap<String, PolicyRecord>,
    /// Each policy compiled by the core, by name.
    pub compiled: HashMap<String, CompiledPolicy>,
    /// By accessor id.
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Secret hash to accessor id.
    by_secret: HashMap<String, String>,
    /// The highest index seen.
    pub index: u64,
}

/// A record's key.
pub fn policy_key(name: &str) -> String {
    format!("policy/{name}")
}

/// A token record's key.
pub fn token_key(accessor: &str) -> String {
    format!("token/{accessor}")
}

impl ApiState {
    /// Apply one record (`None`: deleted) by its key; a record that does not decode (or a
    /// policy that does not compile) is logged and left out. A policy comes `compiled`, or
    /// is compiled with `compile`, or (neither) waits for [`ApiState::recompile`].
    pub fn apply(
        &mut self,
        key: &str,
        value: Option<&str>,
        compile: Option<Compile>,
        compiled: Option<CompiledPolicy>,
    ) {
        if let Some(name) = key.strip_prefix("policy/") {
            self.policies.remove(name);
            self.compiled.remove(name);
            let Some(text) = value else { return };
            let record = match serde_json::from_str::<PolicyRecord>(text) {
                Ok(record) => record,
                Err(err) => return tracing::error!("ACL record {key} is invalid: {err}"),
            };
            let compiled = match (compiled, compile) {
                (Some(compiled), _) => Some(Ok(compiled)),
                (None, Some(compile)) => Some(compile(name, &record.rules)),
                (None, None) => None,
            };
            match compiled {
                Some(Err(why)) => {
                    return tracing::error!("ACL policy {name:?} does not compile: {why}");
                }
                Some(Ok(compiled)) => drop(self.compiled.insert(name.to_string(), compiled)),
                None => {}
            }
            self.index = self.index.max(record.modify_index);
            self.policies.insert(name.to_string(), record);
        } else if let Some(accessor) = key.strip_prefix("token/") {
            if let Some(old) = self.tokens.remove(accessor) {
                self.by_secret.remove(&old.secret_sha256);
            }
            let Some(text) = value else { return };
            match serde_json::from_str::<TokenRecord>(text) {
                Ok(record) => {
                    self.index = self.index.max(record.modify_index);
                    self.by_secret
                        .insert(record.secret_sha256.clone(), accessor.to_string());
                    self.tokens.insert(accessor.to_string(), record);
                }
                Err(err) => tracing::error!("ACL record {key} is invalid: {err}"),
            }
        }
    }

    /// Compile every policy again (a new core).
    pub fn recompile(&mut self, compile: Compile) {
        self.compiled.clear();
        for (name, record) in &self.policies {
            match compile(name, &record.rules) {
                Ok(compiled) => drop(self.compiled.insert(name.clone(), compiled)),
                Err(why) => tracing::error!("ACL policy {name:?} does not compile: {why}"),
            }
        }
    }

    /// The token whose secret this is.
    pub fn by_secret(&self, secret: &str) -> Option<&TokenRecord> {
        let hash = secret_hash(secret);
        let record = self.tokens.get(self.by_secret.get(&hash)?)?;
        constant_time_eq(record.secret_sha256.as_bytes(), hash.as_bytes()).then_some(record)
    }

    /// Every policy the API wrote, as documents (the store adds the files').
    pub fn documents(&self) -> Vec<PolicyDocument> {
        self.policies
            .values()
            .map(|p| PolicyDocument {
                name: p.name.clone(),
                description: p.description.clone(),
                rules: p.rules.clone(),
                create_index: p.create_index,
                modify_index: p.modify_index,
                from_file: false,
            })
            .collect()
    }
}
