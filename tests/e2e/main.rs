//! End-to-end tests: the real `caravan` binary on port 0, spoken to over real HTTP.

mod support;

mod acl;
mod acl_api;
mod agent_start;
mod allocations;
mod api;
mod cli;
mod cli_global_flags;
mod cli_usage;
mod cluster;
mod config_validate;
mod containment;
mod etcd;
mod exec;
mod faults;
mod hostile;
mod hotswap;
mod hotswap_modes;
mod isolation;
mod job_logs;
mod lifecycle;
mod listing;
mod logtime;
mod metrics;
mod outlive;
mod package;
mod persistence;
mod relay;
mod service;
mod streaming;
mod tls;
mod traversal;
mod ui;
