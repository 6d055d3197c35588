//! Which keys of Nomad's agent configuration caravan reads, and which it knows to be Nomad's
//! but ignores (from the `hcl` tags of Nomad's `command/agent/config.go` and its docs).

/// One section (block) of the configuration: the keys caravan reads, and those Nomad knows
/// that caravan ignores.
pub struct Section {
    pub keys: &'static [(&'static str, Kind)],
    pub nomad_only: &'static [&'static str],
}

/// What a key caravan reads holds.
pub enum Kind {
    /// A value, checked by its type when deserialized.
    Value,
    /// A map whose keys are the user's (`meta`).
    Map,
    /// A nested section.
    Section(&'static Section),
}

use Kind::{Map as M, Section as S, Value as V};

/// The whole file: the keys caravan reads, then every other top-level key of Nomad's agent
/// configuration (`command/agent/config.go`).
pub static TOP: Section = Section {
    keys: &[
        ("data_dir", V),
        ("bind_addr", V),
        ("name", V),
        ("datacenter", V),
        ("ports", S(&PORTS)),
        ("advertise", S(&ADVERTISE)),
        ("client", S(&CLIENT)),
        ("server", S(&SERVER)),
        ("acl", S(&ACL)),
        ("limits", S(&LIMITS)),
        ("tls", S(&TLS)),
        ("log_level", V),
        ("ui", S(&UI)),
        // caravan's own: how the wasm core is run.
        ("core", S(&CORE)),
    ],
    nomad_only: &[
        "region",
        "plugin_dir",
        "log_json",
        "log_file",
        "log_include_location",
        "log_rotate_duration",
        "log_rotate_bytes",
        "log_rotate_max_files",
        "enable_debug",
        "addresses",
        "rpc",
        "telemetry",
        "leave_on_interrupt",
        "leave_on_terminate",
        "enable_syslog",
        "syslog_facility",
        "disable_update_check",
        "disable_anonymous_signature",
        "consul",
        "vault",
        "http_api_response_headers",
        "sentinel",
        "autopilot",
        "plugin",
        "audit",
        "reporting",
        "keyring",
        "eventlog",
    ],
};

static UI: Section = Section {
    keys: &[("enabled", V)],
    nomad_only: &["content_security_policy", "consul", "vault", "label"],
};

static PORTS: Section = Section {
    keys: &[("http", V)],
    nomad_only: &["rpc", "serf"],
};

static ADVERTISE: Section = Section {
    keys: &[("http", V)],
    nomad_only: &["rpc", "serf"],
};

static CLIENT: Section = Section {
    keys: &[
        ("enabled", V),
        ("meta", M),
        ("servers", V),
        ("alloc_dir", V),
        ("gc_interval", V),
        ("gc_max_allocs", V),
        ("gc_disk_usage_threshold", V),
        ("gc_inode_usage_threshold", V),
        // caravan's own: where allocation specs are read from.
        ("allocations_dir", V),
        // caravan's own: the ACL token the heartbeat registers with.
        ("node_token", V),
    ],
    nomad_only: &[
        "state_dir",
        "alloc_mounts_dir",
        "host_volumes_dir",
        "host_volume_plugin_dir",
        "common_plugin_dir",
        "intro_token",
        "node_class",
        "node_pool",
        "options",
        "chroot_env",
        "network_interface",
        "preferred_address_family",
        "network_speed",
        "cpu_disable_dmidecode",
        "cpu_total_compute",
        "memory_total_mb",
        "disk_total_mb",
        "disk_free_mb",
        "reservable_cores",
        "max_kill_timeout",
        "client_max_port",
        "client_min_port",
        "max_dynamic_port",
        "min_dynamic_port",
        "reserved",
        "gc_parallel_destroys",
        "gc_volumes_on_node_gc",
        "no_host_uuid",
        "disable_remote_exec",
        "template",
        "server_join",
        "host_volume",
        "cni_path",
        "cni_config_dir",
        "bridge_network_name",
        "bridge_network_subnet",
        "bridge_network_subnet_ipv6",
        "bridge_network_hairpin_mode",
        "host_network",
        "bind_wildcard_default_host_network",
        "cgroup_parent",
        "nomad_service_discovery",
        "artifact",
        "drain_on_shutdown",
        "users",
        "node_max_allocs",
        "log_file",
        "fingerprint",
        "default_ineligible",
        "stats",
    ],
};

static SERVER: Section = Section {
    keys: &[
        ("enabled", V),
        // caravan's own: where the node registry lives, and the etcd it may live in.
        ("registry", V),
        ("etcd", S(&ETCD)),
    ],
    nomad_only: &[
        "authoritative_region",
        "bootstrap_expect",
        "client_introduction",
        "data_dir",
        "protocol_version",
        "raft_protocol",
        "raft_multiplier",
        "num_schedulers",
        "enabled_schedulers",
        "node_gc_threshold",
        "job_gc_interval",
        "job_gc_threshold",
        "eval_gc_threshold",
        "batch_eval_gc_threshold",
        "deployment_gc_threshold",
        "csi_volume_claim_gc_interval",
        "csi_volume_claim_gc_threshold",
        "csi_plugin_gc_threshold",
        "acl_token_gc_threshold",
        "root_key_gc_interval",
        "root_key_gc_threshold",
        "root_key_rotation_threshold",
        "heartbeat_grace",
        "min_heartbeat_ttl",
        "max_heartbeats_per_second",
        "failover_heartbeat_ttl",
        "start_join",
        "retry_join",
        "retry_max",
        "retry_interval",
        "rejoin_after_leave",
        "non_voting_server",
        "redundancy_zone",
        "upgrade_version",
        "encrypt",
        "server_join",
        "default_scheduler_config",
        "plan_rejection_tracker",
        "plan_apply_pipeline",
        "enable_event_broker",
        "event_buffer_size",
        "license_path",
        "search",
        "deploy_query_rate_limit",
        "raft_logstore",
        "raft_boltdb",
        "raft_snapshot_threshold",
        "raft_snapshot_interval",
        "raft_trailing_logs",
        "job_default_priority",
        "job_max_priority",
        "job_max_count",
        "job_max_source_size",
        "job_tracked_versions",
        "oidc_issuer",
        "start_timeout",
        "log_file",
        "non_production",
        "preemption_config",
    ],
};

static ACL: Section = Section {
    keys: &[("enabled", V), ("token_ttl", V), ("policy_ttl", V)],
    nomad_only: &[
        "role_ttl",
        "replication_token",
        "token_min_expiration_ttl",
        "token_max_expiration_ttl",
    ],
};

static LIMITS: Section = Section {
    keys: &[
        ("http_max_conns_per_client", V),
        ("https_handshake_timeout", V),
        // caravan's own: the minimum request-body data rate (Kestrel's).
        ("http_min_body_data_rate", V),
        ("http_min_body_data_rate_grace", V),
    ],
    nomad_only: &["rpc_handshake_timeout", "rpc_max_conns_per_client"],
};

static TLS: Section = Section {
    keys: &[
        ("http", V),
        ("ca_file", V),
        ("cert_file", V),
        ("key_file", V),
        ("verify_https_client", V),
        ("verify_server_hostname", V),
        ("tls_min_version", V),
    ],
    nomad_only: &["rpc", "rpc_upgrade_mode", "tls_cipher_suites"],
};

static CORE: Section = Section {
    keys: &[("call_timeout", V)],
    nomad_only: &[],
};

/// caravan's own: `server { etcd { ... } }`.
static ETCD: Section = Section {
    keys: &[
        ("endpoints", V),
        ("prefix", V),
        ("ca_file", V),
        ("cert_file", V),
        ("key_file", V),
        ("username", V),
        ("password", V),
    ],
    nomad_only: &[],
};
