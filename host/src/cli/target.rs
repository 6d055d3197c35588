//! Nomad's global flags, which every command that talks to an agent takes (`-address`,
//! `-token`, `-namespace`, `-region`, the TLS ones): each one overrides the `NOMAD_*`
//! variable of the same meaning, as `nomad` does, so the one reading of them
//! ([`Agent::from_vars`]) serves both.

use anyhow::Result;

use super::flags::{Flag, Kind, Parsed};
use crate::http_client::Agent;

/// Each global flag and the variable it overrides.
pub const FLAGS: &[(Flag, &str)] = &[
    (
        Flag {
            name: "address",
            kind: Kind::Value("addr"),
            help: "The agent's address, http:// or https:// (NOMAD_ADDR;\ndefault http://127.0.0.1:4646)",
        },
        "NOMAD_ADDR",
    ),
    (
        Flag {
            name: "region",
            kind: Kind::Value("region"),
            help: "Sent as region= with each request (NOMAD_REGION)",
        },
        "NOMAD_REGION",
    ),
    (
        Flag {
            name: "namespace",
            kind: Kind::Value("namespace"),
            help: "The namespace allocation prefixes are looked up in (NOMAD_NAMESPACE;\ndefault: every namespace the token may read)",
        },
        "NOMAD_NAMESPACE",
    ),
    (
        Flag {
            name: "ca-cert",
            kind: Kind::Value("path"),
            help: "CA certificate that signed the agent's, PEM (NOMAD_CACERT)",
        },
        "NOMAD_CACERT",
    ),
    (
        Flag {
            name: "ca-path",
            kind: Kind::Value("path"),
            help: "Directory of PEM CA certificates (NOMAD_CAPATH)",
        },
        "NOMAD_CAPATH",
    ),
    (
        Flag {
            name: "client-cert",
            kind: Kind::Value("path"),
            help: "Client certificate for mutual TLS, PEM (NOMAD_CLIENT_CERT)",
        },
        "NOMAD_CLIENT_CERT",
    ),
    (
        Flag {
            name: "client-key",
            kind: Kind::Value("path"),
            help: "The client certificate's key, PEM (NOMAD_CLIENT_KEY)",
        },
        "NOMAD_CLIENT_KEY",
    ),
    (
        Flag {
            name: "tls-server-name",
            kind: Kind::Value("name"),
            help: "The name the agent's certificate must carry, instead of the\naddress's host (NOMAD_TLS_SERVER_NAME)",
        },
        "NOMAD_TLS_SERVER_NAME",
    ),
    (
        Flag {
            name: "tls-skip-verify",
            kind: Kind::Bool,
            help: "Do not verify the agent's certificate: insecure (NOMAD_SKIP_VERIFY)",
        },
        "NOMAD_SKIP_VERIFY",
    ),
    (
        Flag {
            name: "token",
            kind: Kind::Value("token"),
            help: "The secret ID of an ACL token, sent as X-Nomad-Token (NOMAD_TOKEN)",
        },
        "NOMAD_TOKEN",
    ),
];

/// Which agent a command talks to, and how: the global flags given, over the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Target {
    /// (variable, value) for each global flag given.
    overrides: Vec<(&'static str, String)>,
}

impl Target {
    /// The global flags among `parsed`.
    pub fn from_flags(parsed: &Parsed) -> Result<Self> {
        let mut overrides = Vec::new();
        for (flag, var) in FLAGS {
            if !parsed.given(flag.name) {
                continue;
            }
            let value = match flag.kind {
                Kind::Bool => parsed.bool(flag.name)?.to_string(),
                Kind::Value(_) | Kind::Repeated(_) => parsed.value(flag.name).unwrap_or_default(),
            };
            overrides.push((*var, value));
        }
        Ok(Self { overrides })
    }

    /// The variable `name`: a flag's value if one was given, else the environment's.
    pub fn var(&self, name: &str) -> Option<String> {
        self.overrides
            .iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok())
    }

    /// The agent to talk to.
    pub fn agent(&self) -> Result<Agent> {
        Agent::from_vars(|name| self.var(name))
    }
}

/// The global flags' part of a command's help.
pub fn help() -> String {
    let flags: Vec<Flag> = FLAGS.iter().map(|(flag, _)| flag.clone()).collect();
    format!(
        "\nGeneral options (as Nomad's; each overrides its NOMAD_* variable):\n{}",
        super::flags::help(&flags)
    )
}
