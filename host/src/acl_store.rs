//! ACL tokens and policies as files under `<data_dir>/acl/`, reloaded when they change.
//!
//! `policies/<name>.hcl` (or `.json`) holds one policy; `tokens/<anything>.json` holds one
//! token in Nomad's `ACLToken` shape. Policies are compiled by the core (`compile-policy`)
//! and cached here; a file that does not compile is reported and the previous version of
//! that policy stays in force. Secrets never reach the log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::bindings::acl::{ResolveError, Token, TokenType};
use crate::bindings::policy::CompiledPolicy;
use crate::bindings::types::Timestamp;

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
                    crate::error!(
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
                Err(err) => crate::error!("ACL token file {} is invalid: {err}", path.display()),
            }
        }
        drop(previous);
        crate::info!(
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
        Ok(Token {
            accessor_id: stored.accessor_id.clone(),
            name: stored.name.clone(),
            token_type: if stored.token_type == "management" {
                TokenType::Management
            } else {
                TokenType::Client
            },
            policies: stored.policies.clone(),
            create_time: timestamp(
                stored
                    .create_time
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .unwrap_or(UNIX_EPOCH),
            ),
            expiration_time: expiration.flatten().map(timestamp),
        })
    }

    /// The compiled policies with these names.
    pub fn policies(&self, names: &[String]) -> Vec<CompiledPolicy> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .filter_map(|n| loaded.policies.get(n).cloned())
            .collect()
    }

    /// Create the first management token; refused once any management token exists.
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
            create_time: Some(crate::logging::rfc3339(SystemTime::now())),
            expiration_time: None,
        };
        let path = self
            .dir
            .join("tokens")
            .join(format!("{}.json", token.accessor_id));
        crate::fsutil::write_atomic_private(&path, &serde_json::to_vec_pretty(&token)?)?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .tokens
            .insert(token.secret_id.clone(), token.clone());
        crate::info!(
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

fn timestamp(time: SystemTime) -> Timestamp {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanoseconds: d.subsec_nanos(),
    }
}

/// RFC 3339 (`2026-01-02T03:04:05.5Z`, or with a `±hh:mm` offset) to a `SystemTime`.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> { text.get(from..from + len)?.parse().ok() };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 3600
                + rest.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        let at = |s: &str| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            at("2000-02-29T12:00:00.5Z"),
            Some(Duration::new(951_825_600, 500_000_000))
        );
        assert_eq!(
            at("2000-02-29T14:00:00+02:00"),
            Some(Duration::new(951_825_600, 0))
        );
        assert_eq!(at("yesterday"), None);
    }

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
