//! ACL tokens and policies as files under `<data_dir>/acl/`, reloaded when they change.
//!
//! `policies/<name>.hcl` (or `.json`) holds one policy; `tokens/<anything>.json` holds one
//! token in Nomad's `ACLToken` shape. Policies are compiled by the core (`compile-policy`)
//! and cached here; a file that does not compile is reported and the previous version of
//! that policy stays in force. Secrets never reach the log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::capabilities::timestamp;
use crate::util::time::parse_rfc3339;
use crate::wit::acl::{ResolveError, Token, TokenType};
use crate::wit::policy::CompiledPolicy;

/// A token file, in Nomad's `ACLToken` field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    /// `client` or `management`.
    #[serde(rename = "Type", default = "client_type")]
    pub token_type: String,
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
            create_time: timestamp(time(&self.create_time).unwrap_or(UNIX_EPOCH)),
            expiration_time: time(&self.expiration_time).map(timestamp),
        }
    }
}

fn client_type() -> String {
    "client".into()
}

#[derive(Default)]
struct Loaded {
    /// By secret id.
    tokens: HashMap<String, StoredToken>,
    /// By policy name.
    policies: HashMap<String, CompiledPolicy>,
}

/// The agent's ACL state.
pub struct AclStore {
    enabled: bool,
    dir: PathBuf,
    loaded: RwLock<Loaded>,
}

impl AclStore {
    /// Open (creating) `<dir>/policies` and `<dir>/tokens`.
    pub fn open(dir: &Path, enabled: bool) -> Result<Self> {
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
        })
    }

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
        for (path, name) in files(&self.dir.join("policies"), &["hcl", "json"]) {
            let compiled = std::fs::read_to_string(&path)
                .map_err(|e| format!("unreadable: {e}"))
                .and_then(|text| compile(&name, &text));
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
                        policies.insert(name, old.clone());
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
                    tokens.insert(token.secret_id.clone(), token);
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
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Loaded { tokens, policies };
    }

    /// The token with this secret, if it exists and has not expired.
    pub fn resolve(&self, secret: &str) -> Result<Token, ResolveError> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let stored = loaded.tokens.get(secret).ok_or(ResolveError::NotFound)?;
        let expiration = stored.expiration_time.as_deref().map(parse_rfc3339);
        if let Some(expiration) = expiration {
            // An unparsable expiration is treated as already passed: fail closed.
            if expiration.is_none_or(|at| at <= SystemTime::now()) {
                return Err(ResolveError::Expired);
            }
        }
        Ok(stored.token())
    }

    /// The compiled policies with these names.
    pub fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .filter_map(|n| loaded.policies.get(n).cloned())
            .collect()
    }

    /// Create the first management token; refused (`None`) once any management token exists.
    /// The core decides what the caller sees (`acl.bootstrap`).
    pub fn bootstrap(&self) -> Result<Option<StoredToken>> {
        if self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .tokens
            .values()
            .any(|t| t.token_type == "management")
        {
            return Ok(None);
        }
        let token = StoredToken {
            accessor_id: uuid::Uuid::new_v4().to_string(),
            secret_id: uuid::Uuid::new_v4().to_string(),
            name: "Bootstrap Token".into(),
            token_type: "management".into(),
            policies: Vec::new(),
            create_time: Some(crate::util::time::rfc3339(SystemTime::now())),
            expiration_time: None,
        };
        let path = self
            .dir
            .join("tokens")
            .join(format!("{}.json", token.accessor_id));
        crate::util::fs::write_atomic_private(&path, &serde_json::to_vec_pretty(&token)?)?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .tokens
            .insert(token.secret_id.clone(), token.clone());
        tracing::info!(
            "ACL bootstrap: created management token {}",
            token.accessor_id
        );
        Ok(Some(token))
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
mod tests {
    use super::*;

    fn policy(name: &str) -> CompiledPolicy {
        CompiledPolicy {
            name: name.into(),
            namespaces: Vec::new(),
            node: None,
            agent: None,
        }
    }

    #[test]
    fn reload_keeps_the_previous_version_of_a_broken_policy_and_expires_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path(), true).unwrap();
        let compile = |name: &str, text: &str| {
            if text.contains("broken") {
                Err("bad".to_string())
            } else {
                Ok(policy(name))
            }
        };
        std::fs::write(dir.path().join("policies/ops.hcl"), "fine").unwrap();
        let token = |secret: &str, expires: &str| {
            format!(
                r#"{{"AccessorID":"a-{secret}","SecretID":"{secret}","Type":"client","Policies":["ops"],"ExpirationTime":"{expires}"}}"#
            )
        };
        std::fs::write(
            dir.path().join("tokens/live.json"),
            token("live", "2999-01-01T00:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("tokens/old.json"),
            token("old", "2001-01-01T00:00:00Z"),
        )
        .unwrap();
        store.reload(compile);
        assert_eq!(store.policies(&["ops".into(), "nope".into()]).len(), 1);
        std::fs::write(dir.path().join("policies/ops.hcl"), "broken").unwrap();
        store.reload(compile);
        assert_eq!(
            store.policies(&["ops".into()]).len(),
            1,
            "the previous version stays in force"
        );
        assert_eq!(
            store.resolve("live").unwrap().policies,
            vec!["ops".to_string()]
        );
        assert_eq!(store.resolve("old").unwrap_err(), ResolveError::Expired);
        assert_eq!(store.resolve("nope").unwrap_err(), ResolveError::NotFound);
        let first = store.bootstrap().unwrap().unwrap();
        assert!(store.bootstrap().unwrap().is_none(), "bootstrap works once");
        assert_eq!(
            store.resolve(&first.secret_id).unwrap().token_type,
            TokenType::Management
        );
    }
}
