//! ACLs as Nomad evaluates them: where the token comes from, how a policy document becomes
//! capabilities, and whether a token's policies allow a route.

pub mod access;
pub mod allocation;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The policy records live with the other host types (the [`crate::host::Host`] trait
/// returns them); re-exported here, where the compiler that makes them is.
pub use crate::host::{CompiledPolicy, Disposition, NamespaceRule};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Any one of these capabilities in the allocation's namespace.
    Namespace(&'static [&'static str]),
    /// `node:read`.
    NodeRead,
    /// `node:write`.
    NodeWrite,
    /// Nomad's `agent:read` (the `/v1/agent/*` endpoints).
    AgentRead,
}

const DENY: &str = "deny";

const NAMESPACE_CAPABILITIES: &[&str] = &[
    "deny",
    "list-jobs",
    "parse-job",
    "read-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-node-exec",
    "alloc-lifecycle",
    "sentinel-override",
    "csi-register-plugin",
    "csi-write-volume",
    "csi-read-volume",
    "csi-list-volume",
    "csi-mount-volume",
    "host-volume-create",
    "host-volume-register",
    "host-volume-read",
    "host-volume-write",
    "host-volume-delete",
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "submit-recommendation",
    "register-job",
    "revert-job",
    "deregister-job",
    "purge-job",
    "evaluate-job",
    "plan-job",
    "tag-job-version",
    "stable-job",
    "fail-deployment",
    "pause-deployment",
    "promote-deployment",
    "unblock-deployment",
    "cancel-deployment",
    "set-alloc-health-deployment",
    "gc-allocation",
    "pause-allocation",
    "force-periodic-job",
    "delete-service-registration",
];

const READ: &[&str] = &[
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
];

const WRITE_EXTRA: &[&str] = &[
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
];

const SCALE: &[&str] = &[
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "read-job",
    "submit-recommendation",
];

/// Nomad's `parseToken`: `X-Nomad-Token` (trimmed) wins; else `Authorization: Bearer <t>`
/// (scheme case-insensitive, first word of the value); anything else is anonymous.
///
/// `header` looks up the first value of a header by its lower-case name, so the core
/// ([`Request::header`](crate::http::Request::header)) and the host (its own header map)
/// share this one parser.
pub fn request_token<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
    if let Some(token) = header("x-nomad-token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(token);
    }
    let (scheme, value) = header("authorization")?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    value.split_whitespace().next()
}

/// Parse a policy (HCL, or JSON when it starts with `{`) and expand `policy = ...` into
/// capabilities, with Nomad's validation.
pub fn compile(name: &str, text: &str) -> Result<CompiledPolicy, String> {
    let document: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| format!("Failed to parse ACL policy as JSON: {e}"))?
    } else {
        check_nesting(text)?;
        hcl::from_str(text).map_err(|e| format!("Failed to parse ACL policy: {e}"))?
    };
    let Value::Object(document) = document else {
        return Err("Failed to parse ACL policy: not an object".into());
    };
    let mut namespaces = Vec::new();
    for (pattern, rule) in labelled_blocks(document.get("namespace")) {
        namespaces.push(namespace_rule(&pattern, rule)?);
    }
    Ok(CompiledPolicy {
        name: name.to_string(),
        namespaces,
        node: disposition(document.get("node"), "node")?,
        agent: disposition(document.get("agent"), "agent")?,
    })
}

/// Deepest bracket nesting an HCL policy may have. Nomad's policies need 2 or 3; hcl-rs's
/// parser backtracks exponentially in the depth of unclosed brackets inside expressions
/// (found by fuzzing: 1 KB of `({` took 20 s), so deeper text is refused before it parses.
const MAX_NESTING: usize = 16;

/// Refuse text whose `{`, `[` and `(` nest deeper than [`MAX_NESTING`]. Brackets are counted
/// everywhere, strings and comments included, and a closer closes only its own opener: an
/// overcount, which only text far from a policy reaches.
fn check_nesting(text: &str) -> Result<(), String> {
    let mut open = Vec::new();
    for c in text.chars() {
        match c {
            '{' | '[' | '(' => {
                open.push(c);
                if open.len() > MAX_NESTING {
                    return Err(format!(
                        "Failed to parse ACL policy: nested deeper than {MAX_NESTING} levels"
                    ));
                }
            }
            '}' | ']' | ')' => {
                let opener = match c {
                    '}' => '{',
                    ']' => '[',
                    _ => '(',
                };
                if open.last() == Some(&opener) {
                    open.pop();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `namespace "x" {...}` blocks as HCL and JSON write them: an object keyed by label, or a
/// list of such objects.
fn labelled_blocks(value: Option<&Value>) -> Vec<(String, &Value)> {
    match value {
        Some(Value::Object(map)) => map
            .iter()
            .flat_map(|(label, body)| unlist(body).map(move |b| (label.clone(), b)))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .flat_map(|item| labelled_blocks(Some(item)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A block body, or each body when a block was repeated.
fn unlist(value: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

fn namespace_rule(pattern: &str, rule: &Value) -> Result<NamespaceRule, String> {
    let valid_name = !pattern.is_empty()
        && pattern.len() <= 128
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*');
    if !valid_name {
        return Err(format!("Invalid namespace name: {pattern:?}"));
    }
    let mut capabilities = Vec::new();
    if let Some(list) = rule.get("capabilities") {
        let Value::Array(items) = list else {
            return Err(format!(
                "Invalid namespace capabilities in {pattern:?}: not a list"
            ));
        };
        for item in items {
            let capability = item.as_str().unwrap_or_default();
            if !NAMESPACE_CAPABILITIES.contains(&capability) {
                return Err(format!(
                    "Invalid namespace capability '{capability}' in namespace {pattern:?}"
                ));
            }
            capabilities.push(capability.to_string());
        }
    }
    if let Some(policy) = rule.get("policy") {
        let expanded: Vec<&str> = match policy.as_str() {
            Some("deny") => vec![DENY],
            Some("read") => READ.to_vec(),
            Some("write") => READ.iter().chain(WRITE_EXTRA).copied().collect(),
            Some("scale") => SCALE.to_vec(),
            _ => {
                return Err(format!(
                    "Invalid namespace policy {policy} in namespace {pattern:?}"
                ));
            }
        };
        capabilities.extend(expanded.into_iter().map(str::to_string));
    }
    Ok(NamespaceRule {
        pattern: pattern.to_string(),
        capabilities,
    })
}

fn disposition(block: Option<&Value>, what: &str) -> Result<Option<Disposition>, String> {
    let Some(block) = block else { return Ok(None) };
    let mut result = None;
    for body in unlist(block) {
        let policy = body.get("policy");
        let parsed = match policy.and_then(Value::as_str) {
            Some("deny") => Disposition::Deny,
            Some("read") => Disposition::Read,
            Some("write") => Disposition::Write,
            _ => {
                return Err(format!(
                    "Invalid {what} policy: {}",
                    policy.unwrap_or(&Value::Null)
                ));
            }
        };
        result = Some(max_privilege(result, parsed));
    }
    Ok(result)
}

/// Nomad's `maxPrivilege`: deny wins, else the higher grant.
fn max_privilege(current: Option<Disposition>, next: Disposition) -> Disposition {
    match current {
        Some(Disposition::Deny) => Disposition::Deny,
        _ if next == Disposition::Deny => Disposition::Deny,
        Some(current) => current.max(next),
        None => next,
    }
}

/// A token's effective permissions.
#[derive(Debug, Default)]
pub struct Acl {
    management: bool,
    namespaces: BTreeMap<String, BTreeSet<String>>,
    node: Option<Disposition>,
    agent: Option<Disposition>,
}

impl Acl {
    /// Everything allowed (a management token, or ACLs disabled).
    pub fn management() -> Self {
        Self {
            management: true,
            ..Self::default()
        }
    }

    /// Merge policies as Nomad's `NewACL`: capabilities per pattern are unioned, and a
    /// `deny` clears the pattern's capabilities and blocks later grants.
    pub fn from_policies(policies: &[CompiledPolicy]) -> Self {
        let mut acl = Self::default();
        for policy in policies {
            for rule in &policy.namespaces {
                let set = acl.namespaces.entry(rule.pattern.clone()).or_default();
                if set.contains(DENY) {
                    continue;
                }
                if rule.capabilities.iter().any(|c| c == DENY) {
                    set.clear();
                    set.insert(DENY.to_string());
                    continue;
                }
                set.extend(rule.capabilities.iter().cloned());
            }
            if let Some(node) = policy.node {
                acl.node = Some(max_privilege(acl.node, node));
            }
            if let Some(agent) = policy.agent {
                acl.agent = Some(max_privilege(acl.agent, agent));
            }
        }
        acl
    }

    /// Whether this is a management token's (or ACLs are off).
    pub fn is_management(&self) -> bool {
        self.management
    }

    /// Whether the requirement is met (namespace requirements against `namespace`; against
    /// `*`, the all-namespaces sentinel, when any namespace rule grants it, as Nomad's
    /// `AllowNamespaceOperation`).
    pub fn allows(&self, requirement: Requirement, namespace: &str) -> bool {
        if self.management {
            return true;
        }
        let grants = |set: &BTreeSet<String>, any_of: &[&str]| {
            !set.contains(DENY) && any_of.iter().any(|c| set.contains(*c))
        };
        match requirement {
            Requirement::Namespace(any_of) if namespace == "*" => {
                self.namespaces.values().any(|set| grants(set, any_of))
            }
            Requirement::Namespace(any_of) => self
                .capabilities(namespace)
                .is_some_and(|set| grants(set, any_of)),
            Requirement::NodeRead => {
                matches!(self.node, Some(Disposition::Read | Disposition::Write))
            }
            Requirement::NodeWrite => self.node == Some(Disposition::Write),
            Requirement::AgentRead => {
                matches!(self.agent, Some(Disposition::Read | Disposition::Write))
            }
        }
    }

    /// An exact namespace rule, else the closest matching glob (Nomad's
    /// `findClosestMatchingGlob`: least `len(ns) - len(glob) + count('*')`, ties by pattern order).
    fn capabilities(&self, namespace: &str) -> Option<&BTreeSet<String>> {
        if let Some(exact) = self
            .namespaces
            .get(namespace)
            .filter(|_| !namespace.contains('*'))
        {
            return Some(exact);
        }
        self.namespaces
            .iter()
            .filter(|(pattern, _)| pattern.contains('*') && glob_match(pattern, namespace))
            .min_by_key(|(pattern, _)| {
                namespace.len() as i64 - pattern.len() as i64 + pattern.matches('*').count() as i64
            })
            .map(|(_, set)| set)
    }
}

/// `*` matches any run of characters; nothing else is special.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
