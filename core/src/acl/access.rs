//! Who may do what: a route's requirement (its row in [`crate::router`]), checked against
//! the caller's token.
//!
//! Alloc-scoped routes look the allocation up first (an unknown allocation is 404 for
//! everyone, as Nomad) and check the **allocation's** namespace, never a `namespace`
//! parameter (CVE-2019-16742).

use crate::acl::{Acl, Requirement};
use crate::host::{Allocation, Host, ResolveError, Token};
use crate::http::{ApiError, ApiResult, Request};

/// Nomad's 403 texts for a caller without the capability, with an unknown token, or with
/// an expired one.
pub const PERMISSION_DENIED: &str = "Permission denied";
/// Nomad's 403 text for a secret no token has.
pub const TOKEN_NOT_FOUND: &str = "ACL token not found";
/// Nomad's 403 text for a token past its expiration time.
pub const TOKEN_EXPIRED: &str = "ACL token expired";

/// Every text of an ACL refusal (the host counts them in its metrics); any other 403, such
/// as reading a task's `secrets/`, is not one.
pub const DENIALS: [&str; 3] = [PERMISSION_DENIED, TOKEN_NOT_FOUND, TOKEN_EXPIRED];

/// The caller of one request and what its route requires.
pub struct Access<'a> {
    /// The request, whose token header names the caller.
    pub request: &'a Request,
    /// What its route requires; `None`: nothing.
    pub requirement: Option<Requirement>,
}

impl Access<'_> {
    /// The allocation, if it exists and the caller may use it this way.
    pub fn allocation(&self, host: &impl Host, id: &str) -> ApiResult<Allocation> {
        let allocation = crate::acl::allocation::lookup(host, id)?;
        self.check(host, &allocation.namespace)?;
        Ok(allocation)
    }

    /// For node-scoped routes.
    pub fn node(&self, host: &impl Host) -> ApiResult<()> {
        self.check(host, "")
    }

    /// Against an allocation's namespace known by other means (a server's registry).
    pub fn namespace(&self, host: &impl Host, namespace: &str) -> ApiResult<()> {
        self.check(host, namespace)
    }

    fn check(&self, host: &impl Host, namespace: &str) -> ApiResult<()> {
        let Some(requirement) = self.requirement else {
            return Ok(());
        };
        if !host.acl_enabled() {
            return Ok(());
        }
        if caller_acl(host, self.request)?.allows(requirement, namespace) {
            Ok(())
        } else {
            Err(ApiError::forbidden(PERMISSION_DENIED))
        }
    }
}

/// Who is calling: their token (`None` when anonymous) and what it allows.
pub struct Caller {
    /// The token; `None` when anonymous.
    pub token: Option<Token>,
    /// What it allows, compiled from its policies.
    pub acl: Acl,
}

impl Caller {
    /// The names of the caller's policies (`anonymous` for an anonymous caller).
    pub fn policy_names(&self) -> Vec<String> {
        match &self.token {
            Some(token) => token.policies.clone(),
            None => vec![ANONYMOUS.to_string()],
        }
    }
}

/// The policy anonymous callers get.
const ANONYMOUS: &str = "anonymous";

/// The caller of a request (ACLs on): anonymous callers get the policy named `anonymous`
/// (nothing when there is none); an unknown or expired token is refused.
pub fn caller(host: &impl Host, request: &Request) -> ApiResult<Caller> {
    let Some(secret) = crate::acl::request_token(|name| request.header(name)) else {
        return Ok(Caller {
            token: None,
            acl: Acl::from_policies(&host.policies(&[ANONYMOUS.to_string()])),
        });
    };
    let token = resolve(host, secret)?;
    let acl = if token.management {
        Acl::management()
    } else {
        Acl::from_policies(&host.policies(&token.policies))
    };
    Ok(Caller {
        token: Some(token),
        acl,
    })
}

fn caller_acl(host: &impl Host, request: &Request) -> ApiResult<Acl> {
    caller(host, request).map(|c| c.acl)
}

/// Resolve a secret with Nomad's texts (expired is 403 here; Nomad says 500).
pub fn resolve(host: &impl Host, secret: &str) -> ApiResult<Token> {
    host.resolve_token(secret).map_err(|e| match e {
        ResolveError::NotFound => ApiError::forbidden(TOKEN_NOT_FOUND),
        ResolveError::Expired => ApiError::forbidden(TOKEN_EXPIRED),
    })
}

/// `/v1/metrics`, which the host answers itself (the metrics are the host's): Nomad's
/// metrics endpoint requires no ACL capability at all ("ACL Required: none" in its API
/// documentation; its handler checks no token), so Prometheus can scrape it without one.
/// An invalid or missing token is therefore not refused either. Decided here, beside
/// [`agent_core`], so every rule about who may call what stays in the core crate.
pub fn metrics(_host: &impl Host, _request: &Request) -> ApiResult<()> {
    Ok(())
}

/// `/v1/agent/core`, which the host answers itself: reading it needs Nomad's `agent:read`;
/// replacing the core needs a management token. Decided here so the host holds no ACL
/// logic of its own.
pub fn agent_core(host: &impl Host, request: &Request, replace: bool) -> ApiResult<()> {
    if !host.acl_enabled() {
        return Ok(());
    }
    let acl = caller_acl(host, request)?;
    let allowed = if replace {
        acl.is_management()
    } else {
        acl.allows(Requirement::AgentRead, "")
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(PERMISSION_DENIED))
    }
}
