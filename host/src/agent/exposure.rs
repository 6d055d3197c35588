//! The one warning an agent gives when anyone on the network could use it: an address other
//! than loopback served without TLS or without ACLs (docs/security.md: "on anything but
//! loopback it needs TLS").

use std::net::SocketAddr;

/// The warning for serving on `addr` with (or without) TLS and ACLs; `None` when loopback,
/// or with both.
pub fn warning(addr: SocketAddr, tls: bool, acl: bool) -> Option<String> {
    let missing = match (tls, acl) {
        _ if addr.ip().is_loopback() => return None,
        (true, true) => return None,
        (false, false) => {
            "without TLS or ACLs: anyone who can reach it can read every \
                           allocation's files and logs, change its metadata and run commands \
                           in its tasks, and tokens would cross the network in clear"
        }
        (false, true) => {
            "without TLS: tokens, files and logs cross the network in clear, \
                          readable and changeable on the way"
        }
        (true, false) => {
            "without ACLs: anyone who can reach it can read every allocation's \
                          files and logs, change its metadata and run commands in its tasks"
        }
    };
    let scheme = if tls { "HTTPS" } else { "plain HTTP" };
    Some(format!(
        "serving {scheme} on {addr}, which is not loopback, {missing}; set tls {{ http = true }} \
         and acl {{ enabled = true }} (docs/security.md), or bind 127.0.0.1"
    ))
}

#[cfg(test)]
mod tests;
