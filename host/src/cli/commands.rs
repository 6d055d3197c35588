//! The commands that talk to a core or an agent: `caravan core check FILE` (validating a
//! core offline), `caravan core swap FILE` and `caravan acl bootstrap`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Target, Usage};
use crate::capabilities::HostContext;
use crate::runtime::{MAX_CORE_SIZE, RuntimeOptions, Sandbox};

/// `caravan core check`: usage, help and flags.
pub const CORE_CHECK: Usage = Usage {
    usage: "caravan core check <file>",
    about: "Run every check a swap runs on a core component, offline (exit 1 if rejected).",
    flags: &[],
};

/// `caravan core swap`: usage, help and flags.
pub const CORE_SWAP: Usage = Usage {
    usage: "caravan core swap <file>",
    about: "Make the agent serve this core component (checked first; the old core serves on\n\
            if it is rejected).",
    flags: &[],
};

/// `caravan config validate`: usage, help and flags.
pub const CONFIG_VALIDATE: Usage = Usage {
    usage: "caravan config validate <file>...",
    about: "Check agent configuration files (HCL, or JSON for .json) as `caravan agent -config`\n\
            loads them, merged in order: every unknown key, wrong type or impossible setting\n\
            is printed with its file and line (exit 1); the Nomad settings caravan ignores are\n\
            printed as warnings. The agent refuses to start on the same errors.",
    flags: &[],
};

/// `caravan acl bootstrap`: usage, help and flags.
pub const ACL_BOOTSTRAP: Usage = Usage {
    usage: "caravan acl bootstrap",
    about: "Create the first management token on the agent and print it (once: the agent\n\
            refuses a second bootstrap).",
    flags: &[],
};

/// Run every check a swap runs, against a throwaway agent state; `Ok(false)` on rejection.
pub fn check(path: &Path) -> Result<bool> {
    let bytes = read_core_file(path)?;
    let scratch = tempfile::Builder::new()
        .prefix("caravan-core-check-")
        .tempdir()?;
    let sandbox = Sandbox::new(
        HostContext::scratch(scratch.path())?,
        &RuntimeOptions::default(),
    )?;
    let started = Instant::now();
    match sandbox.prepare(&bytes) {
        Ok(core) => {
            super::output::print(&format!(
                "{}: ok: core {} (sha256 {}) passed every check in {:.0?}\n",
                path.display(),
                core.version,
                core.sha256,
                started.elapsed()
            ))?;
            Ok(true)
        }
        Err(rejection) => {
            super::output::print(&format!(
                "{}: rejected (sha256 {}): {rejection}\n",
                path.display(),
                rejection.sha256
            ))?;
            Ok(false)
        }
    }
}

/// Send the component to the agent (`-address` or `NOMAD_ADDR`) and print what it says.
pub fn swap(path: &Path, target: &Target) -> Result<()> {
    let bytes = read_core_file(path)?;
    let reply = target.agent()?.call("PUT", "/v1/agent/core", bytes)?;
    let text = String::from_utf8_lossy(&reply.body);
    if reply.status != 200 {
        bail!(
            "the agent refused the core ({}): {}",
            reply.status,
            text.trim()
        );
    }
    let reply: serde_json::Value = serde_json::from_slice(&reply.body)
        .with_context(|| format!("the agent answered something other than JSON: {text}"))?;
    super::output::print(&format!(
        "serving core {} (sha256 {}); swaps since start: {}\n",
        reply["Version"].as_str().unwrap_or("?"),
        reply["SHA256"].as_str().unwrap_or("?"),
        reply["Swaps"]
    ))
}

/// A core file, refused early when it could never be accepted.
fn read_core_file(path: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() > MAX_CORE_SIZE {
        bail!(
            "{} is larger than the {} MiB a core may be",
            path.display(),
            MAX_CORE_SIZE >> 20
        );
    }
    Ok(bytes)
}

/// Check configuration files as the agent would load them; an error lists every mistake.
pub fn config_validate(paths: &[std::path::PathBuf]) -> Result<()> {
    let (_, warnings) = crate::agent::config_files::load(paths)?;
    let mut text: String = warnings.iter().map(|w| format!("Warning: {w}\n")).collect();
    text.push_str("Configuration is valid!\n");
    super::output::print(&text)
}

/// Print the bootstrap token once, in Nomad's CLI layout.
pub fn acl_bootstrap(target: &Target) -> anyhow::Result<()> {
    let reply = target.agent()?.call("POST", "/v1/acl/bootstrap", "")?;
    if reply.status != 200 {
        anyhow::bail!(
            "bootstrap refused ({}): {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let token: serde_json::Value = serde_json::from_slice(&reply.body)?;
    let mut text = String::new();
    for (label, key) in [
        ("Accessor ID", "AccessorID"),
        ("Secret ID", "SecretID"),
        ("Name", "Name"),
        ("Type", "Type"),
    ] {
        text.push_str(&format!(
            "{label:<12} = {}\n",
            token[key].as_str().unwrap_or("")
        ));
    }
    super::output::print(&text)
}
