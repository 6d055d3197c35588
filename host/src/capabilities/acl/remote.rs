//! A client's view of its servers' ACL tokens: a secret this agent does not know is
//! resolved through its servers (`POST /v1/internal/acl/resolve`, authenticated with the
//! client's own node token, like its heartbeat) and the answer cached, positive or
//! negative, for the token TTL (`acl { token_ttl }`, 30 s as Nomad). An entry older than the
//! TTL is asked again; while no server answers, the last answer keeps being served (Nomad's
//! clients do the same), so a deletion is seen within the TTL once a server is reachable.
//!
//! The resolution happens before the core is called (`prepare`), so the core's
//! `resolve-token` import only reads this cache. Entries are keyed by the secret's hash.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::api::secret_hash;
use crate::http_client::{self, TOKEN_HEADER, TlsClient};
use crate::wit::acl::{ResolveError, Token};
use crate::wit::policy::CompiledPolicy;

/// Where a client asks its servers who a token is (decided by the server's core).
pub const RESOLVE_PATH: &str = "/v1/internal/acl/resolve";

/// Nomad's default token and policy TTL.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Secrets remembered at once (Nomad's clients keep 1,024 in an LRU): a flood of made-up
/// secrets must not grow the cache without bound.
const MAX_ENTRIES: usize = 4096;

/// How long one server may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The servers' answer about one secret.
#[derive(Debug, Clone)]
enum Outcome {
    Found(Token),
    NotFound,
    Expired,
}

struct Entry {
    outcome: Outcome,
    fetched: Instant,
}

/// The compiler of fetched policies (the loaded core's `compile-policy`).
pub type Compiler<'a> = dyn Fn(&str, &str) -> Result<CompiledPolicy, String> + Send + Sync + 'a;

/// A client's servers and what they said.
pub struct Remote {
    servers: Vec<String>,
    node_token: Option<String>,
    tls: Option<TlsClient>,
    ttl: Duration,
    /// By the secret's hash.
    cache: RwLock<HashMap<String, Entry>>,
    /// The policies of resolved tokens, by name, as last fetched.
    policies: RwLock<HashMap<String, CompiledPolicy>>,
    /// No server answered the last time one was asked (logged once per outage).
    down: AtomicBool,
}

/// The resolve route's answer.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Token")]
    token: Option<serde_json::Value>,
    #[serde(rename = "Error", default)]
    error: String,
    #[serde(rename = "Policies", default)]
    policies: Vec<PolicyText>,
}

#[derive(Deserialize)]
struct PolicyText {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Rules")]
    rules: String,
}

impl Remote {
    /// A cache of what `servers` say, asked with the client's `node_token`, each answer kept for `ttl`.
    pub fn new(
        servers: Vec<String>,
        node_token: Option<String>,
        tls: Option<TlsClient>,
        ttl: Duration,
    ) -> Self {
        Self {
            servers,
            node_token,
            tls,
            ttl,
            cache: RwLock::default(),
            policies: RwLock::default(),
            down: AtomicBool::new(false),
        }
    }

    /// What the servers last said about this secret, however old (`None`: never asked, or
    /// never answered). A found token that expired since is `Expired`.
    pub fn resolve(&self, secret: &str) -> Option<Result<Token, ResolveError>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        Some(match &cache.get(&secret_hash(secret))?.outcome {
            Outcome::Found(token) => {
                let now = crate::wit::types::Timestamp::from(std::time::SystemTime::now());
                match &token.expiration_time {
                    Some(at) if (at.seconds, at.nanoseconds) <= (now.seconds, now.nanoseconds) => {
                        Err(ResolveError::Expired)
                    }
                    _ => Ok(token.clone()),
                }
            }
            Outcome::NotFound => Err(ResolveError::NotFound),
            Outcome::Expired => Err(ResolveError::Expired),
        })
    }

    /// The fetched policies with these names.
    pub fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        let policies = self.policies.read().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .filter_map(|n| policies.get(n).cloned())
            .collect()
    }

    /// Ask the servers about `secret` unless a fresh answer is cached. A server that
    /// cannot be reached, refuses this client or answers something else is skipped; when
    /// none answers, the cached answer (if any) stays.
    pub async fn refresh(&self, secret: &str, compile: &Compiler<'_>) {
        let hash = secret_hash(secret);
        let fresh = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .is_some_and(|e| e.fetched.elapsed() < self.ttl);
        if fresh {
            return;
        }
        let body = serde_json::json!({ "SecretID": secret }).to_string();
        let mut why = String::from("no servers");
        for server in &self.servers {
            let answer = match self.ask(server, &body).await {
                Ok(answer) => answer,
                Err(err) => {
                    why = format!("{server}: {err}");
                    continue;
                }
            };
            let outcome = match answer.token {
                Some(token) => match token_from_json(&token) {
                    Some(token) => Outcome::Found(token),
                    None => {
                        why = format!("{server}: a token without an AccessorID");
                        continue;
                    }
                },
                None if answer.error.contains("expired") => Outcome::Expired,
                None => Outcome::NotFound,
            };
            if let Outcome::Found(_) = outcome {
                let mut policies = self.policies.write().unwrap_or_else(|e| e.into_inner());
                for policy in answer.policies {
                    match compile(&policy.name, &policy.rules) {
                        Ok(compiled) => drop(policies.insert(policy.name, compiled)),
                        Err(why) => tracing::error!(
                            "ACL policy {:?} from server {server} does not compile: {why}",
                            policy.name
                        ),
                    }
                }
            }
            if self.down.swap(false, Ordering::Relaxed) {
                tracing::info!("ACL tokens resolve through the servers again");
            }
            let entry = Entry {
                outcome,
                fetched: Instant::now(),
            };
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            insert_bounded(&mut cache, hash, entry, self.ttl, MAX_ENTRIES);
            return;
        }
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "no server answered an ACL token lookup (last: {why}); serving cached tokens \
                 until one does (with ACLs on, client.node_token must hold a token with node \
                 write)"
            );
        }
    }

    /// One server's answer, or why there is none.
    async fn ask(&self, server: &str, body: &str) -> Result<Answer, String> {
        let headers: Vec<(&str, &str)> = self
            .node_token
            .as_deref()
            .map(|t| (TOKEN_HEADER, t))
            .into_iter()
            .collect();
        let request = http_client::request("POST", RESOLVE_PATH, &headers, body.to_string())
            .map_err(|e| format!("{e:#}"))?;
        let fetched = tokio::time::timeout(
            CALL_TIMEOUT,
            http_client::fetch_with(server, self.tls.as_ref(), request),
        )
        .await;
        let reply = match fetched {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => return Err(format!("{err:#}")),
            Err(_) => return Err(format!("no answer within {CALL_TIMEOUT:?}")),
        };
        if reply.status != 200 {
            return Err(format!(
                "answered {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body).trim()
            ));
        }
        serde_json::from_slice(&reply.body).map_err(|e| format!("an answer that is not JSON: {e}"))
    }
}

/// Insert an answer, keeping at most `max`: when full, answers older than the TTL go first,
/// then the oldest of the rest.
fn insert_bounded(
    cache: &mut HashMap<String, Entry>,
    hash: String,
    entry: Entry,
    ttl: Duration,
    max: usize,
) {
    if cache.len() >= max && !cache.contains_key(&hash) {
        cache.retain(|_, e| e.fetched.elapsed() < ttl);
        while cache.len() >= max {
            let oldest = cache
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => drop(cache.remove(&key)),
                None => break,
            }
        }
    }
    cache.insert(hash, entry);
}

/// A token in Nomad's `ACLToken` JSON, in the contract's terms.
fn token_from_json(v: &serde_json::Value) -> Option<Token> {
    use crate::wit::acl::TokenType;
    let time = |key: &str| {
        v[key]
            .as_str()
            .and_then(crate::util::time::parse_rfc3339)
            .map(crate::wit::types::Timestamp::from)
    };
    Some(Token {
        accessor_id: v["AccessorID"].as_str()?.to_string(),
        name: v["Name"].as_str().unwrap_or_default().to_string(),
        token_type: if v["Type"] == "management" {
            TokenType::Management
        } else {
            TokenType::Client
        },
        policies: v["Policies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        create_time: time("CreateTime").unwrap_or(std::time::UNIX_EPOCH.into()),
        expiration_time: time("ExpirationTime"),
        expiration_ttl: 0,
        global: v["Global"].as_bool().unwrap_or(false),
        create_index: v["CreateIndex"].as_u64().unwrap_or(0),
        modify_index: v["ModifyIndex"].as_u64().unwrap_or(0),
        from_file: false,
    })
}

#[cfg(test)]
mod tests;
