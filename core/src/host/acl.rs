//! Tokens and policies as the host stores them, and policies as the core compiles them.

use super::Timestamp;

/// A token as the host stores it, without its secret.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Token {
    /// The public id (Nomad's `AccessorID`).
    pub accessor_id: String,
    /// A label for people.
    pub name: String,
    /// A management token: every capability, no policies needed.
    pub management: bool,
    /// The policies of a client token.
    pub policies: Vec<String>,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it stops resolving; `None`: never.
    pub expiration_time: Option<Timestamp>,
    /// Nomad's `ExpirationTTL` as given at creation, in nanoseconds (0: none).
    pub expiration_ttl: u64,
    /// Nomad's `Global` flag, kept as given.
    pub global: bool,
    /// The index it was created at.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
    /// From a file under the agent's `acl/tokens/`: the API cannot change it.
    pub from_file: bool,
}

/// A policy as stored: Nomad's `ACLPolicy` fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDocument {
    /// Its unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// HCL or JSON, as given.
    pub rules: String,
    /// The index it was created at.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
    /// From a file under the agent's `acl/policies/`: the API cannot change it.
    pub from_file: bool,
}

/// A management token `bootstrap` just minted, with its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct MintedToken {
    /// The token as stored.
    pub token: Token,
    /// Its secret, shown once: the host keeps only its hash.
    pub secret_id: String,
}

/// Why `bootstrap` minted nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapError {
    /// A management token exists already.
    AlreadyDone,
    /// A host fault (the token could not be stored).
    Failed(String),
}

/// A coarse permission level (`node`, `agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    /// Nothing.
    Deny,
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

/// The capabilities granted in namespaces matching `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRule {
    /// A namespace name or glob (`*`, `prod-*`).
    pub pattern: String,
    /// Nomad's namespace capabilities (`read-fs`, `alloc-exec`, …), shorthands expanded.
    pub capabilities: Vec<String>,
}

/// A policy document after parsing and expansion (`acl::compile` makes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// The policy's name.
    pub name: String,
    /// Its namespace rules.
    pub namespaces: Vec<NamespaceRule>,
    /// The `node` rule, if any.
    pub node: Option<Disposition>,
    /// The `agent` rule, if any.
    pub agent: Option<Disposition>,
}

/// Why a secret does not resolve to a usable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// No token has this secret.
    NotFound,
    /// The token's expiration time has passed.
    Expired,
}
