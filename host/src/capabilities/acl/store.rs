//! The agent's ACL state: tokens and policies as files under `<data_dir>/acl/` (reloaded
//! when they change; a standalone agent's configuration), and those written through the ACL
//! API (`api.rs`). Files win over the API for a name or secret both have.
//!
//! `policies/<name>.hcl` (or `.json`) holds one policy; `tokens/<anything>.json` holds one
//! token in Nomad's `ACLToken` shape. Policies are compiled by the core (`compile-policy`)
//! and cached here; a file that does not compile is reported and the previous version of
//! that policy stays in force. Secrets never reach the log; tokens are found by the hash of
//! their secret, compared in constant time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::api::{TokenRecord, constant_time_eq, policy_key, secret_hash, token_key};
use super::backend::ApiAcl;
use super::remote::Remote;
use crate::util::time::parse_rfc3339;
use crate::wit::acl::{PolicyDocument, ResolveError, Token, TokenType};
use crate::wit::policy::CompiledPolicy;

/// A token file, in Nomad's `ACLToken` field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    /// The public id.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// The secret a caller presents.
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    /// A label for people.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// `client` or `management`.
    #[serde(rename = "Type", default = "client_type")]
    pub token_type: String,
    /// The policies of a client token.
    #[serde(rename = "Policies", default)]
    pub policies: Vec<String>,
    /// RFC 3339.
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<String>,
    /// RFC 3339; absent means it never expires.
    #[serde(
        rename = "ExpirationTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_time: Option<String>,
}

impl StoredToken {
    /// The token in the contract's terms, without its secret.
    pub fn token(&self) -> Token {
        let time = |text: &Option<String>| text.as_deref().and_then(parse_rfc3339);
        Token {
            accessor_id: self.accessor_id.clone(),
            name: self.name.clone(),
            token_type: if self.token_type == "management" {
                TokenType::Management
            } else {
                TokenType::Client
            },
            policies: self.policies.clone(),
            create_time: time(&self.create_time).unwrap_or(UNIX_EPOCH).into(),
            expiration_time: time(&self.expiration_time).map(Into::into),
            expiration_ttl: 0,
            global: false,
            create_index: 0,
            modify_index: 0,
            from_file: true,
        }
    }

    /// Whether its expiration time has passed (an unparsable one has: fail closed).
    fn expired(&self) -> bool {
        self.expiration_time
            .as_deref()
            .map(parse_rfc3339)
            .is_some_and(|at| at.is_none_or(|at| at <= SystemTime::now()))
    }
}

fn client_type() -> String {
    "client".into()
}

/// What the files say.
#[derive(Default)]
struct Loaded {
    /// By the SHA-256 of the secret id.
    tokens: HashMap<String, StoredToken>,
    /// By policy name.
    policies: HashMap<String, CompiledPolicy>,
    /// The policies' texts, by name.
    texts: HashMap<String, String>,
}

/// The agent's ACL state.
pub struct AclStore {
    enabled: bool,
    dir: PathBuf,
    loaded: RwLock<Loaded>,
    api: ApiAcl,
    /// One API write at a time: each takes the next index.
    writing: std::sync::Mutex<()>,
    /// On a client registered with servers: the tokens they resolved.
    remote: std::sync::OnceLock<Remote>,
}

impl AclStore {
    /// Open (creating) `<dir>/policies` and `<dir>/tokens`; `api` keeps what the ACL API
    /// writes.
    pub fn open(dir: &Path, enabled: bool, api: ApiAcl) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        for sub in ["policies", "tokens"] {
            std::fs::create_dir_all(dir.join(sub)).context("failed to create the ACL dir")?;
        }
        // Token files hold secrets.
        std::fs::set_permissions(dir.join("tokens"), std::fs::Permissions::from_mode(0o700))?;
        for (path, _) in files(&dir.join("tokens"), &["json"]) {
            crate::util::fs::warn_if_wider(&path, 0o600, "the ACL token file");
        }
        Ok(Self {
            enabled,
            dir: dir.to_path_buf(),
            loaded: RwLock::default(),
            api,
            writing: std::sync::Mutex::new(()),
            remote: std::sync::OnceLock::new(),
        })
    }

    /// Resolve tokens this agent does not know through these servers (a client's).
    pub fn use_servers(&self, remote: Remote) {
        let _ = self.remote.set(remote);
    }

    /// Before the core sees a request with this secret: on a client with servers, ask them
    /// about a secret this agent does not hold itself (unless a fresh answer is cached).
    pub async fn prepare(&self, secret: &str, compile: &super::remote::Compiler<'_>) {
        let Some(remote) = self.remote.get().filter(|_| self.enabled) else {
            return;
        };
        if self.resolve_here(secret).is_none() {
            remote.refresh(secret, compile).await;
        }
    }

    /// Whether ACLs are enforced.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The directory to watch.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-read every file. `compile` is the core's `compile-policy`.
    pub fn reload(&self, compile: impl Fn(&str, &str) -> Result<CompiledPolicy, String>) {
        let previous = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let mut policies = HashMap::new();
        let mut texts = HashMap::new();
        for (path, name) in files(&self.dir.join("policies"), &["hcl", "json"]) {
            let compiled = std::fs::read_to_string(&path)
                .map_err(|e| format!("unreadable: {e}"))
                .and_then(|text| {
                    let compiled = compile(&name, &text)?;
                    texts.insert(name.clone(), text);
                    Ok(compiled)
                });
            match compiled {
                Ok(policy) => {
                    policies.insert(name, policy);
                }
                Err(reason) => {
                    tracing::error!(
                        "ACL policy {name:?} ({}) is invalid: {reason}; keeping its previous version",
                        path.display()
                    );
                    if let Some(old) = previous.policies.get(&name) {
                        policies.insert(name.clone(), old.clone());
                        if let Some(text) = previous.texts.get(&name) {
                            texts.insert(name, text.clone());
                        }
                    }
                }
            }
        }
        let mut tokens = HashMap::new();
        for (path, _) in files(&self.dir.join("tokens"), &["json"]) {
            let parsed = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(serde_json::from_slice::<StoredToken>(&bytes)?));
            match parsed {
                Ok(token) => {
                    tokens.insert(secret_hash(&token.secret_id), token);
                }
                Err(err) => tracing::error!("ACL token file {} is invalid: {err}", path.display()),
            }
        }
        drop(previous);
        tracing::info!(
            "ACLs loaded: {} policies, {} tokens",
            policies.len(),
            tokens.len()
        );
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Loaded {
            tokens,
            policies,
            texts,
        };
        self.api.reload(&compile);
    }

    /// The token with this secret, if it exists and has not expired: a file's, else the
    /// API's, else (a client) what the servers said.
    pub fn resolve(&self, secret: &str) -> Result<Token, ResolveError> {
        if let Some(found) = self.resolve_here(secret) {
            return found;
        }
        match self.remote.get().and_then(|r| r.resolve(secret)) {
            Some(found) => found,
            None => Err(ResolveError::NotFound),
        }
    }

    /// A token this agent holds itself (`None`: not here).
    fn resolve_here(&self, secret: &str) -> Option<Result<Token, ResolveError>> {
        let hash = secret_hash(secret);
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        if let Some(stored) = loaded.tokens.get(&hash)
            && constant_time_eq(stored.secret_id.as_bytes(), secret.as_bytes())
        {
            return Some(if stored.expired() {
                Err(ResolveError::Expired)
            } else {
                Ok(stored.token())
            });
        }
        drop(loaded);
        let api = self.api.read();
        let record = api.by_secret(secret)?;
        Some(if record.expired() {
            Err(ResolveError::Expired)
        } else {
            Ok(record.token())
        })
    }

    /// The compiled policies with these names (a file's, else the API's, else the
    /// servers').
    pub fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let api = self.api.read();
        names
            .iter()
            .filter_map(|n| {
                let here = loaded.policies.get(n).or_else(|| api.compiled.get(n));
                here.cloned().or_else(|| {
                    let remote = self.remote.get()?;
                    remote.policies(std::slice::from_ref(n)).pop()
                })
            })
            .collect()
    }

    /// Create the first management token; refused (`None`) once any management token
    /// exists. The core decides what the caller sees (`acl.bootstrap`).
    pub fn bootstrap(&self) -> Result<Option<(Token, String)>, String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let in_files = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .tokens
            .values()
            .any(|t| t.token_type == "management");
        let in_api = self
            .api
            .read()
            .tokens
            .values()
            .any(|t| t.token_type == "management");
        if in_files || in_api {
            return Ok(None);
        }
        let token = Token {
            accessor_id: String::new(),
            name: "Bootstrap Token".into(),
            token_type: TokenType::Management,
            policies: Vec::new(),
            create_time: SystemTime::now().into(),
            expiration_time: None,
            expiration_ttl: 0,
            global: true,
            create_index: 0,
            modify_index: 0,
            from_file: false,
        };
        let minted = self.store_new_token(token)?;
        tracing::info!(
            "ACL bootstrap: created management token {}",
            minted.0.accessor_id
        );
        Ok(Some(minted))
    }

    /// Every policy: the files', then the API's under other names.
    pub fn list_policies(&self) -> Vec<PolicyDocument> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<PolicyDocument> = loaded
            .texts
            .iter()
            .map(|(name, rules)| PolicyDocument {
                name: name.clone(),
                description: String::new(),
                rules: rules.clone(),
                create_index: 0,
                modify_index: 0,
                from_file: true,
            })
            .collect();
        let api = self.api.read().documents();
        all.extend(
            api.into_iter()
                .filter(|p| !loaded.texts.contains_key(&p.name)),
        );
        all
    }

    /// Create or replace a policy the core compiled.
    pub fn put_policy(
        &self,
        mut policy: PolicyDocument,
        compiled: CompiledPolicy,
    ) -> Result<(), String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.api.next_index();
        let create_index = self
            .api
            .read()
            .policies
            .get(&policy.name)
            .map_or(index, |old| old.create_index);
        policy.create_index = create_index;
        policy.modify_index = index;
        let record = super::api::PolicyRecord {
            name: policy.name.clone(),
            description: policy.description,
            rules: policy.rules,
            create_index,
            modify_index: index,
        };
        let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
        self.api
            .write(&policy_key(&policy.name), Some(text), Some(compiled))?;
        tracing::info!("ACL policy {:?} written", policy.name);
        Ok(())
    }

    /// Delete an API policy; `false` when there was none.
    pub fn delete_policy(&self, name: &str) -> Result<bool, String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.api.read().policies.contains_key(name) {
            return Ok(false);
        }
        self.api.write(&policy_key(name), None, None)?;
        tracing::info!("ACL policy {name:?} deleted");
        Ok(true)
    }

    /// Every token (the files', then the API's), without secrets.
    pub fn list_tokens(&self) -> Vec<Token> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<Token> = loaded.tokens.values().map(StoredToken::token).collect();
        all.extend(self.api.read().tokens.values().map(TokenRecord::token));
        all
    }

    /// Store a new token as the core decided it, with fresh ids: `(token, secret)`.
    pub fn create_token(&self, token: Token) -> Result<(Token, String), String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (token, secret) = self.store_new_token(token)?;
        tracing::info!("ACL token {} created", token.accessor_id);
        Ok((token, secret))
    }

    fn store_new_token(&self, mut token: Token) -> Result<(Token, String), String> {
        let secret = uuid::Uuid::new_v4().to_string();
        token.accessor_id = uuid::Uuid::new_v4().to_string();
        token.create_index = self.api.next_index();
        token.modify_index = token.create_index;
        token.from_file = false;
        let record = TokenRecord::new(&token, secret_hash(&secret));
        let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
        self.api
            .write(&token_key(&token.accessor_id), Some(text), None)?;
        Ok((token, secret))
    }

    /// Replace an API token's fields (its secret, create time and create index stay).
    pub fn update_token(&self, mut token: Token) -> Result<Option<Token>, String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let Some(old) = self.api.read().tokens.get(&token.accessor_id).cloned() else {
            return Ok(None);
        };
        let kept = old.token();
        token.create_time = kept.create_time;
        token.create_index = kept.create_index;
        token.modify_index = self.api.next_index();
        token.from_file = false;
        let record = TokenRecord::new(&token, old.secret_sha256);
        let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
        self.api
            .write(&token_key(&token.accessor_id), Some(text), None)?;
        tracing::info!("ACL token {} updated", token.accessor_id);
        Ok(Some(token))
    }

    /// Delete an API token; `false` when there was none.
    pub fn delete_token(&self, accessor: &str) -> Result<bool, String> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.api.read().tokens.contains_key(accessor) {
            return Ok(false);
        }
        self.api.write(&token_key(accessor), None, None)?;
        tracing::info!("ACL token {accessor} deleted");
        Ok(true)
    }
}

/// `(path, stem)` of the files in `dir` with one of these extensions.
fn files(dir: &Path, extensions: &[&str]) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, String)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            (!stem.starts_with('.')).then_some((p, stem))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests;
