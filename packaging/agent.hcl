# caravan agent configuration, in the shape of Nomad's agent configuration.
# Read by the caravan service (`caravan agent -config /etc/caravan/agent.hcl`).
# After a change: `systemctl restart caravan`. `systemctl reload caravan` (SIGHUP) reloads
# only the core and the TLS certificates. Every key: docs/configuration.md and README.md.

# The node's state, allocations and ACL files. Created 0700; keep it that way.
data_dir = "/var/lib/caravan"

# Loopback only. To serve other machines, turn on TLS and ACLs first (docs/security.md),
# then bind "0.0.0.0" or one address.
bind_addr = "127.0.0.1"

ports {
  http = 4646
}

log_level = "INFO"

# client {
#   meta = {
#     rack = "r1"
#   }
#   allocations_dir = "/etc/caravan/allocs"   # default: <data_dir>/specs
#   servers         = ["10.0.0.1:4646"]        # register with these servers
# }

# acl {
#   enabled = true                            # then: caravan acl bootstrap
# }

# tls {
#   http      = true
#   ca_file   = "/etc/caravan/tls/nomad-agent-ca.pem"
#   cert_file = "/etc/caravan/tls/global-client-nomad.pem"
#   key_file  = "/etc/caravan/tls/global-client-nomad-key.pem"
#   verify_https_client = true
# }

# limits {
#   http_max_conns_per_client     = 100       # per client address; 0 lifts it
#   https_handshake_timeout       = "5s"
#   http_min_body_data_rate       = 240       # bytes/s a request body must average...
#   http_min_body_data_rate_grace = "5s"      # ...once this has passed; 0 lifts it
# }
