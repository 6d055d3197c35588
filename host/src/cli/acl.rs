//! `caravan acl policy apply|list|info|delete` and `caravan acl token
//! create|list|info|update|delete|self`: Nomad's `nomad acl …` commands, against the agent
//! at `NOMAD_ADDR` (with `NOMAD_TOKEN`), through the ACL API.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::api::{Api, encode};
use super::flags::WrongArguments;
use super::flags::{Flag, Kind, Parsed};
use super::output;
use super::{Command, Usage};

/// A parsed `caravan acl …` (other than `bootstrap`).
#[derive(Debug, PartialEq, Eq)]
pub enum Acl {
    /// `acl policy apply NAME PATH`.
    PolicyApply {
        /// The policy's name.
        name: String,
        /// A file, or `-` for standard input.
        path: String,
        /// `-description`.
        description: Option<String>,
    },
    /// `acl policy list`.
    PolicyList {
        /// `-json`: print the agent's answer as it is.
        json: bool,
    },
    /// `acl policy info NAME`.
    PolicyInfo {
        /// The policy's name.
        name: String,
        /// `-json`: print the agent's answer as it is.
        json: bool,
    },
    /// `acl policy delete NAME`.
    PolicyDelete {
        /// The policy's name.
        name: String,
    },
    /// `acl token create`.
    TokenCreate(TokenFields),
    /// `acl token list`.
    TokenList {
        /// `-json`: print the agent's answer as it is.
        json: bool,
    },
    /// `acl token info ACCESSOR`.
    TokenInfo {
        /// The token's accessor id.
        accessor: String,
        /// `-json`: print the agent's answer as it is.
        json: bool,
    },
    /// `acl token update ACCESSOR`.
    TokenUpdate {
        /// The token's accessor id.
        accessor: String,
        /// What to change.
        fields: TokenFields,
    },
    /// `acl token delete ACCESSOR`.
    TokenDelete {
        /// The token's accessor id.
        accessor: String,
    },
    /// `acl token self`: the token in `NOMAD_TOKEN`.
    TokenSelf {
        /// `-json`: print the agent's answer as it is.
        json: bool,
    },
}

/// What `token create` and `token update` set.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenFields {
    /// `-name`.
    pub name: Option<String>,
    /// `-type`: `client` or `management`.
    pub token_type: Option<String>,
    /// `-policy`, repeatable.
    pub policies: Vec<String>,
    /// `-global`.
    pub global: Option<bool>,
    /// `-ttl`, a Go duration.
    pub ttl: Option<String>,
    /// `-json`: print the agent's answer as it is.
    pub json: bool,
}

const JSON: Flag = Flag {
    name: "json",
    kind: Kind::Bool,
    help: "Print the agent's answer as JSON",
};

/// `caravan acl policy apply`: usage, help and flags.
pub const POLICY_APPLY: Usage = Usage {
    usage: "caravan acl policy apply [options] <name> <path>",
    about: "Create or replace an ACL policy from a file of rules (HCL or JSON; `-` reads\n\
            standard input). Needs a management token.",
    flags: &[Flag {
        name: "description",
        kind: Kind::Value("text"),
        help: "The policy's description",
    }],
};

/// `caravan acl policy list`: usage, help and flags.
pub const POLICY_LIST: Usage = Usage {
    usage: "caravan acl policy list [options]",
    about: "List the ACL policies (a client token sees its own).",
    flags: &[JSON],
};

/// `caravan acl policy info`: usage, help and flags.
pub const POLICY_INFO: Usage = Usage {
    usage: "caravan acl policy info [options] <name>",
    about: "Show an ACL policy and its rules.",
    flags: &[JSON],
};

/// `caravan acl policy delete`: usage, help and flags.
pub const POLICY_DELETE: Usage = Usage {
    usage: "caravan acl policy delete <name>",
    about: "Delete an ACL policy. Needs a management token.",
    flags: &[],
};

const TOKEN_FLAGS: &[Flag] = &[
    Flag {
        name: "name",
        kind: Kind::Value("name"),
        help: "The token's name",
    },
    Flag {
        name: "type",
        kind: Kind::Value("client|management"),
        help: "The token's type (default client)",
    },
    Flag {
        name: "policy",
        kind: Kind::Repeated("name"),
        help: "A policy the token carries (repeatable)",
    },
    Flag {
        name: "global",
        kind: Kind::Bool,
        help: "Mark the token global (caravan has one region)",
    },
    Flag {
        name: "ttl",
        kind: Kind::Value("duration"),
        help: "Expire the token after this long (1m to 24h; create only)",
    },
    JSON,
];

/// `caravan acl token create`: usage, help and flags.
pub const TOKEN_CREATE: Usage = Usage {
    usage: "caravan acl token create [options]",
    about: "Create an ACL token; its secret is printed once. Needs a management token.",
    flags: TOKEN_FLAGS,
};

/// `caravan acl token update`: usage, help and flags.
pub const TOKEN_UPDATE: Usage = Usage {
    usage: "caravan acl token update [options] <accessor_id>",
    about: "Change an ACL token's name, type or policies. Needs a management token.",
    flags: TOKEN_FLAGS,
};

/// `caravan acl token list`: usage, help and flags.
pub const TOKEN_LIST: Usage = Usage {
    usage: "caravan acl token list [options]",
    about: "List the ACL tokens. Needs a management token.",
    flags: &[JSON],
};

/// `caravan acl token info`: usage, help and flags.
pub const TOKEN_INFO: Usage = Usage {
    usage: "caravan acl token info [options] <accessor_id>",
    about: "Show an ACL token (management, or the token itself).",
    flags: &[JSON],
};

/// `caravan acl token delete`: usage, help and flags.
pub const TOKEN_DELETE: Usage = Usage {
    usage: "caravan acl token delete <accessor_id>",
    about: "Delete an ACL token. Needs a management token.",
    flags: &[],
};

/// `caravan acl token self`: usage, help and flags.
pub const TOKEN_SELF: Usage = Usage {
    usage: "caravan acl token self [options]",
    about: "Show the token in NOMAD_TOKEN.",
    flags: &[JSON],
};

fn one(parsed: &Parsed) -> Result<String> {
    match parsed.free() {
        [one] => Ok(one.clone()),
        _ => Err(WrongArguments.into()),
    }
}

fn none(parsed: &Parsed) -> Result<()> {
    match parsed.free() {
        [] => Ok(()),
        _ => Err(WrongArguments.into()),
    }
}

fn acl(acl: Acl) -> Result<Command> {
    Ok(Command::Acl(acl))
}

/// `acl policy apply`'s command from its parsed flags and arguments.
pub fn build_policy_apply(parsed: &Parsed) -> Result<Command> {
    match parsed.free() {
        [name, path] => acl(Acl::PolicyApply {
            name: name.clone(),
            path: path.clone(),
            description: parsed.value("description"),
        }),
        _ => Err(WrongArguments.into()),
    }
}

/// `acl policy list`'s command from its parsed flags and arguments.
pub fn build_policy_list(parsed: &Parsed) -> Result<Command> {
    none(parsed)?;
    acl(Acl::PolicyList {
        json: parsed.bool("json")?,
    })
}

/// `acl policy info`'s command from its parsed flags and arguments.
pub fn build_policy_info(parsed: &Parsed) -> Result<Command> {
    acl(Acl::PolicyInfo {
        name: one(parsed)?,
        json: parsed.bool("json")?,
    })
}

/// `acl policy delete`'s command from its parsed flags and arguments.
pub fn build_policy_delete(parsed: &Parsed) -> Result<Command> {
    acl(Acl::PolicyDelete { name: one(parsed)? })
}

fn fields(parsed: &Parsed) -> Result<TokenFields> {
    Ok(TokenFields {
        name: parsed.value("name"),
        token_type: parsed.value("type"),
        policies: parsed.values("policy"),
        global: if parsed.given("global") {
            Some(parsed.bool("global")?)
        } else {
            None
        },
        ttl: parsed.value("ttl"),
        json: parsed.bool("json")?,
    })
}

/// `acl token create`'s command from its parsed flags and arguments.
pub fn build_token_create(parsed: &Parsed) -> Result<Command> {
    none(parsed)?;
    acl(Acl::TokenCreate(fields(parsed)?))
}

/// `acl token list`'s command from its parsed flags and arguments.
pub fn build_token_list(parsed: &Parsed) -> Result<Command> {
    none(parsed)?;
    acl(Acl::TokenList {
        json: parsed.bool("json")?,
    })
}

/// `acl token info`'s command from its parsed flags and arguments.
pub fn build_token_info(parsed: &Parsed) -> Result<Command> {
    acl(Acl::TokenInfo {
        accessor: one(parsed)?,
        json: parsed.bool("json")?,
    })
}

/// `acl token update`'s command from its parsed flags and arguments.
pub fn build_token_update(parsed: &Parsed) -> Result<Command> {
    acl(Acl::TokenUpdate {
        accessor: one(parsed)?,
        fields: fields(parsed)?,
    })
}

/// `acl token delete`'s command from its parsed flags and arguments.
pub fn build_token_delete(parsed: &Parsed) -> Result<Command> {
    acl(Acl::TokenDelete {
        accessor: one(parsed)?,
    })
}

/// `acl token self`'s command from its parsed flags and arguments.
pub fn build_token_self(parsed: &Parsed) -> Result<Command> {
    none(parsed)?;
    acl(Acl::TokenSelf {
        json: parsed.bool("json")?,
    })
}

/// Run a parsed `caravan acl …`.
pub fn run(command: Acl, target: &super::Target) -> Result<()> {
    let api = Api::new(target)?;
    match command {
        Acl::PolicyApply {
            name,
            path,
            description,
        } => {
            let rules = if path == "-" {
                std::io::read_to_string(std::io::stdin()).context("failed to read stdin")?
            } else {
                std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?
            };
            let body = json!({"Name": name, "Description": description.unwrap_or_default(), "Rules": rules});
            api.call("POST", &policy_path(&name), serde_json::to_vec(&body)?)?;
            output::print(&format!("Successfully wrote {name:?} ACL policy!\n"))
        }
        Acl::PolicyList { json } => {
            let list = api.get_json("/v1/acl/policies")?;
            if json {
                return output::print(&output::json(&list));
            }
            let policies = list.as_array().cloned().unwrap_or_default();
            if policies.is_empty() {
                return output::print("No policies found\n");
            }
            let mut rows = vec![vec!["Name".to_string(), "Description".to_string()]];
            rows.extend(policies.iter().map(|p| {
                vec![
                    p["Name"].as_str().unwrap_or("").to_string(),
                    p["Description"].as_str().unwrap_or("").to_string(),
                ]
            }));
            output::print(&output::table(&rows))
        }
        Acl::PolicyInfo { name, json } => {
            let policy = api.get_json(&policy_path(&name))?;
            if json {
                return output::print(&output::json(&policy));
            }
            let pairs = [
                ("Name", text(&policy["Name"])),
                ("Description", text(&policy["Description"])),
                ("CreateIndex", text(&policy["CreateIndex"])),
                ("ModifyIndex", text(&policy["ModifyIndex"])),
            ];
            let rules = policy["Rules"].as_str().unwrap_or("");
            output::print(&format!(
                "{}\nRules\n\n{}\n",
                output::key_values(&pairs),
                rules.trim_end()
            ))
        }
        Acl::PolicyDelete { name } => {
            api.call("DELETE", &policy_path(&name), "")?;
            output::print(&format!("Successfully deleted {name:?} ACL policy!\n"))
        }
        Acl::TokenCreate(fields) => {
            let mut body = json!({
                "Name": fields.name.clone().unwrap_or_default(),
                "Type": fields.token_type.clone().unwrap_or_else(|| "client".into()),
                "Policies": fields.policies,
                "Global": fields.global.unwrap_or(false),
            });
            if let Some(ttl) = &fields.ttl {
                body["ExpirationTTL"] = json!(ttl);
            }
            let token = api.post_json("/v1/acl/token", &body)?;
            show_token(&token, fields.json)
        }
        Acl::TokenList { json } => {
            let list = api.get_json("/v1/acl/tokens")?;
            if json {
                return output::print(&output::json(&list));
            }
            let tokens = list.as_array().cloned().unwrap_or_default();
            if tokens.is_empty() {
                return output::print("No tokens found\n");
            }
            let mut rows = vec![
                ["Name", "Type", "Global", "Accessor ID", "Expired"]
                    .map(String::from)
                    .to_vec(),
            ];
            rows.extend(tokens.iter().map(|t| {
                vec![
                    text(&t["Name"]),
                    text(&t["Type"]),
                    text(&t["Global"]),
                    text(&t["AccessorID"]),
                    expired(t).to_string(),
                ]
            }));
            output::print(&output::table(&rows))
        }
        Acl::TokenInfo { accessor, json } => {
            let token = api.get_json(&token_path(&accessor))?;
            show_token(&token, json)
        }
        Acl::TokenUpdate { accessor, fields } => {
            let mut token = api.get_json(&token_path(&accessor))?;
            if let Some(name) = fields.name {
                token["Name"] = json!(name);
            }
            if let Some(kind) = fields.token_type {
                token["Type"] = json!(kind);
            }
            if !fields.policies.is_empty() {
                token["Policies"] = json!(fields.policies);
            }
            if let Some(global) = fields.global {
                token["Global"] = json!(global);
            }
            let updated = api.post_json(&token_path(&accessor), &token)?;
            show_token(&updated, fields.json)
        }
        Acl::TokenDelete { accessor } => {
            api.call("DELETE", &token_path(&accessor), "")?;
            output::print(&format!("Token {accessor} successfully deleted\n"))
        }
        Acl::TokenSelf { json } => {
            let token = api.get_json("/v1/acl/token/self")?;
            show_token(&token, json)
        }
    }
}

fn policy_path(name: &str) -> String {
    format!("/v1/acl/policy/{}", encode(name))
}

fn token_path(accessor: &str) -> String {
    format!("/v1/acl/token/{}", encode(accessor))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a listed token's expiration time has passed (RFC 3339 in UTC compares as text).
fn expired(token: &Value) -> bool {
    let now = crate::util::time::rfc3339(std::time::SystemTime::now());
    token["ExpirationTime"].as_str().is_some_and(|at| {
        crate::util::time::parse_rfc3339(at) <= crate::util::time::parse_rfc3339(&now)
    })
}

/// A token as Nomad's CLI shows it (`formatTokenInfo`), or as JSON.
fn show_token(token: &Value, json: bool) -> Result<()> {
    if json {
        return output::print(&output::json(token));
    }
    let policies = match token["Type"].as_str() {
        Some("management") => "n/a".to_string(),
        _ => {
            let names: Vec<&str> = token["Policies"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("[{}]", names.join(" "))
        }
    };
    let expiry = match token["ExpirationTime"].as_str() {
        Some(at) => at.to_string(),
        None => "<none>".into(),
    };
    let pairs = [
        ("Accessor ID", text(&token["AccessorID"])),
        ("Secret ID", text(&token["SecretID"])),
        ("Name", text(&token["Name"])),
        ("Type", text(&token["Type"])),
        ("Global", text(&token["Global"])),
        ("Create Time", text(&token["CreateTime"])),
        ("Expiry Time", expiry),
        ("Create Index", text(&token["CreateIndex"])),
        ("Modify Index", text(&token["ModifyIndex"])),
        ("Policies", policies),
    ];
    output::print(&output::key_values(&pairs))
}
