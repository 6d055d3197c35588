//! `caravan agent`: assemble the daemon from its configuration and serve until a signal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub mod config;
pub mod config_files;
mod config_keys;
mod config_limits;
mod config_schema;
mod dev;
mod exposure;
mod heartbeat;
mod service;

use self::config::FileConfig;
use self::dev::{print_dev_help, write_demo_files, write_demo_spec};
use crate::allocs::Registry;
use crate::capabilities::HostContext;
use crate::capabilities::cluster::ClusterState;
use crate::capabilities::filesystem::AllocFs;
use crate::capabilities::node::{NodeState, default_static_meta};
use crate::capabilities::stats::HostStats;
use crate::http::limits::conns_per_client;
use crate::http::tls::{Tls, TlsSettings};
use crate::http_client;
use crate::registry::{Cluster, EtcdSettings};
use crate::runtime::native::NativeCore;
use crate::runtime::triggers::{self, CoreSource};
use crate::runtime::{Core, DEFAULT_CALL_TIMEOUT, Runtime, RuntimeOptions, Sandbox};
use crate::store::StateStore;

/// How often host stats are sampled (Nomad's `collection_interval` default).
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Spec-directory events closer together than this are handled as one.
const SPECS_DEBOUNCE: Duration = Duration::from_millis(100);
/// ACL file changes take effect this soon after the last write of a burst.
const ACL_DEBOUNCE: Duration = Duration::from_millis(10);

/// What `caravan agent` was asked to do.
#[derive(Debug, Default)]
pub struct AgentOptions {
    /// `-dev`: a throwaway agent with a demo allocation.
    pub dev: bool,
    /// `-config`, repeatable: HCL or JSON files (later files win).
    pub config_files: Vec<PathBuf>,
    /// `-data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `-bind`: the address the HTTP API listens on.
    pub bind_addr: Option<String>,
    /// `-http-port`.
    pub http_port: Option<u16>,
    /// `-specs-dir`: where allocation specs are read from.
    pub specs_dir: Option<PathBuf>,
    /// `-core`: a core file to serve (and watch), or `native`.
    pub core: Option<PathBuf>,
    /// `-max-streams`: streams open at once.
    pub max_streams: Option<usize>,
    /// `-acl-enabled`.
    pub acl_enabled: bool,
    /// `-server`: run as a server.
    pub server: bool,
    /// `-client`: run as a client.
    pub client: bool,
    /// `-servers`: the servers a client registers with.
    pub servers: Vec<String>,
    /// `-node`: the node's name.
    pub node_name: Option<String>,
    /// `-advertise`: the address others use for the HTTP API.
    pub advertise: Option<String>,
    /// `-core-call-timeout`: the deadline of one core call.
    pub core_call_timeout: Option<Duration>,
    /// `-log-level`: Nomad's `log_level` (TRACE, DEBUG, INFO, WARN, ERROR).
    pub log_level: Option<String>,
}

/// Run the agent until SIGINT or SIGTERM.
pub async fn run(options: AgentOptions) -> Result<()> {
    // Every mistake in the files at once (`caravan config validate` says the same).
    let (mut config, ignored) = config_files::load(&options.config_files)?;
    if options.dev && config.bind_addr.is_none() {
        config.bind_addr = Some("127.0.0.1".into());
    }
    if options.data_dir.is_some() {
        config.data_dir = options.data_dir.clone();
    }
    if options.bind_addr.is_some() {
        config.bind_addr = options.bind_addr.clone();
    }
    if options.http_port.is_some() {
        config.ports.http = options.http_port;
    }
    if options.specs_dir.is_some() {
        config.client.allocations_dir = options.specs_dir.clone();
    }
    if options.log_level.is_some() {
        config.log_level = options.log_level.clone();
    }
    config.check()?;
    crate::util::logging::init(
        config
            .log_level
            .as_deref()
            .unwrap_or(crate::util::logging::DEFAULT_LEVEL),
    )?;
    // Only now is there a log to say it in.
    for warning in &ignored {
        tracing::warn!("{warning}");
    }

    let open_files = crate::util::open_files::raise();

    // A dev agent without a data dir gets a temporary one, removed when it exits.
    let temp_dir = match (&config.data_dir, options.dev) {
        (None, true) => Some(
            tempfile::Builder::new()
                .prefix("caravan-dev-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()?,
        ),
        (None, false) => {
            anyhow::bail!("a data_dir is required (in the config file or with -data-dir)")
        }
        _ => None,
    };
    let data_dir = config
        .data_dir
        .clone()
        .or_else(|| temp_dir.as_ref().map(|t| t.path().to_path_buf()))
        .context("no data dir")?;
    let alloc_root = config
        .client
        .alloc_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("alloc"));
    let specs_dir = config
        .client
        .allocations_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("specs"));

    // The data dir holds the node's secret, ACL tokens and every allocation's files.
    crate::util::fs::create_private_dir(&data_dir, "the data dir")?;
    let state = Arc::new(StateStore::open(&data_dir.join("client"))?);
    let node_id = state.node_id()?;
    let demo_alloc = if options.dev {
        Some(write_demo_spec(&specs_dir)?)
    } else {
        None
    };
    let gc_config = config.client.gc()?;
    let registry = Arc::new(Registry::open(
        &alloc_root,
        &specs_dir,
        state.clone(),
        STATS_INTERVAL,
    )?);
    if let Some(id) = &demo_alloc {
        write_demo_files(&alloc_root.join(id))?;
    }
    let specs_watcher = watch_specs(registry.clone())?;
    crate::allocs::gc::start(registry.clone(), alloc_root.clone(), gc_config);

    let mut static_meta = default_static_meta();
    static_meta.extend(config.client.meta.clone());
    if options.acl_enabled {
        config.acl.enabled = true;
    }
    config.server.enabled |= options.server || options.dev;
    let policy_compiler = crate::capabilities::acl::etcd_acl::SharedCompiler::default();
    let acl = crate::capabilities::acl::AclStore::open(
        &data_dir.join("acl"),
        config.acl.enabled,
        acl_api(&config, &state, &policy_compiler)?,
    )?;
    config
        .client
        .servers
        .extend(options.servers.iter().cloned());
    let roles = crate::wit::cluster::AgentRoles {
        server: config.server.enabled,
        client: options.client
            || options.dev
            || config.client.enabled.unwrap_or(!config.server.enabled),
        ui: config.ui.enabled(),
    };
    let ctx = Arc::new(HostContext {
        node: NodeState {
            id: node_id.clone(),
            name: options
                .node_name
                .clone()
                .or(config.name.clone())
                .unwrap_or_else(host_name),
            datacenter: config.datacenter.clone().unwrap_or_else(|| "dc1".into()),
            static_meta,
            store: state,
            http_addr: std::sync::OnceLock::new(),
        },
        allocations: registry.clone(),
        filesystem: AllocFs::new(&alloc_root).context("failed to open the alloc dir")?,
        stats: HostStats::start(alloc_root.clone(), STATS_INTERVAL),
        follow: crate::capabilities::follow::Follower::new()?,
        acl,
        cluster: ClusterState {
            roles,
            nodes: registry_of(&config)?,
            relay_tls: if roles.server {
                outgoing_tls(&config, CLIENT_ROLE)?
            } else {
                None
            },
        },
    });
    // `-core native` answers requests with the natively linked core (a benchmark baseline);
    // the built-in component is still loaded, for ACL policy compilation and checks.
    let native_core = options.core.as_deref() == Some(Path::new("native"));
    let core_source = match &options.core {
        Some(path) if !native_core => CoreSource::File(std::path::absolute(path)?),
        _ => CoreSource::Builtin,
    };
    let runtime_options = RuntimeOptions {
        call_timeout: options
            .core_call_timeout
            .or(config.call_timeout()?)
            .unwrap_or(DEFAULT_CALL_TIMEOUT),
        cache_dir: Some(data_dir.join("core-cache")),
    };
    let sandbox = Sandbox::new(ctx, &runtime_options)?;
    let runtime =
        Arc::new(Runtime::start(sandbox, &core_source.read()?).context("failed to load the core")?);
    let core = runtime.active();
    tracing::info!(
        "core {} loaded (sha256 {}), {}",
        core.version,
        core.sha256,
        match core.compiled {
            Some(took) => format!("compiled in {took:.0?}"),
            None => "from the compiled cache".into(),
        }
    );
    let core_watcher = match &core_source {
        CoreSource::File(path) => Some(triggers::watch_file(runtime.clone(), path)?),
        CoreSource::Builtin => None,
    };
    if native_core {
        tracing::info!(
            "answering with the native core {}",
            *crate::runtime::native::VERSION
        );
    }
    let weak = Arc::downgrade(&runtime);
    let _ = policy_compiler.set(Box::new(move |name: &str, text: &str| {
        let runtime = weak.upgrade().ok_or("the agent is stopping")?;
        runtime.compile_policy(name, text)
    }));
    let acl_watcher = watch_acl(runtime.clone())?;
    let tls = tls_settings(&config)?.map(Tls::new).transpose()?;
    let tls_watcher = tls.as_ref().map(|tls| tls.watch()).transpose()?;
    service::reload_on_sighup(runtime.clone(), core_source, tls.clone())?;
    let shutdown = service::shutdown_signal()?;

    let listener = tokio::net::TcpListener::bind(config.http_addr()?)
        .await
        .with_context(|| {
            format!(
                "failed to bind {}",
                config
                    .http_addr()
                    .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
            )
        })?;
    let addr = listener.local_addr()?;
    if let Some(warning) = exposure::warning(addr, tls.is_some(), config.acl.enabled) {
        tracing::warn!("{warning}");
    }
    let ctx = runtime.context();
    let advertised = match (&options.advertise, &config.advertise.http) {
        (Some(a), _) | (None, Some(a)) => a.clone(),
        // A wildcard bind is reachable on loopback at least.
        _ if addr.ip().is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        _ => addr.to_string(),
    };
    let _ = ctx.node.http_addr.set(advertised);
    if ctx.cluster.roles.client && !config.client.servers.is_empty() {
        let ctx = ctx.clone();
        let token = config
            .client
            .node_token
            .clone()
            .or_else(http_client::env_token);
        let tls = outgoing_tls(&config, SERVER_ROLE)?;
        ctx.acl
            .use_servers(crate::capabilities::acl::remote::Remote::new(
                config.client.servers.clone(),
                token.clone(),
                tls.clone(),
                config.acl.cache_ttl()?,
            ));
        heartbeat::start(config.client.servers.clone(), token, tls, move || {
            ctx.registration()
        });
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "==> caravan agent: node {node_id}, data dir {}",
        data_dir.display()
    )?;
    if let Some(id) = &demo_alloc {
        print_dev_help(&mut out, addr, id)?;
    }
    if tls.is_some() {
        writeln!(out, "Serving HTTPS on https://{addr}/")?;
    } else {
        writeln!(out, "Serving HTTP on http://{addr}/")?;
    }
    out.flush()?;
    drop(out);
    service::ready();

    let configured = config.limits.http_max_conns_per_client;
    let per_client = conns_per_client(configured, open_files);
    if per_client != configured {
        tracing::warn!(
            "open-files limit {open_files}: at most {per_client} connections per client address \
             (limits.http_max_conns_per_client = {configured}); raise LimitNOFILE"
        );
    }
    let server_options = crate::http::server::ServerOptions {
        max_streams: options
            .max_streams
            .unwrap_or(crate::http::server::ServerOptions::default().max_streams),
        max_conns_per_client: per_client,
        min_body_rate: config.limits.min_body_rate()?,
        forward_tls: if roles.server {
            outgoing_tls(&config, CLIENT_ROLE)?
        } else {
            None
        },
    };
    let core: Arc<dyn Core> = if native_core {
        Arc::new(NativeCore::new(runtime.context()))
    } else {
        runtime.clone()
    };
    let served =
        crate::http::server::serve(listener, core, runtime, server_options, tls, shutdown).await;
    // Tasks outlive the agent (their executors are not its children) and the next agent
    // re-attaches to them, unless the data dir is a temporary one that goes with this agent.
    let stop_tasks = temp_dir.is_some();
    tokio::task::spawn_blocking(move || registry.shutdown(stop_tasks))
        .await
        .context("failed to stop the tasks")?;
    served?;
    // The watches go before the directories they watch.
    drop((specs_watcher, acl_watcher, core_watcher, tls_watcher));
    drop(temp_dir);
    Ok(())
}

/// The server's node registry: in memory (the default), or in etcd.
fn registry_of(config: &FileConfig) -> Result<Cluster> {
    let Some(settings) = etcd_settings(config)? else {
        return Ok(Cluster::default());
    };
    tracing::info!(
        "node registry in etcd at {} under {}nodes/",
        settings.endpoints.join(","),
        settings.prefix
    );
    Cluster::etcd(settings).context("the etcd registry")
}

/// Where the ACL API's policies and tokens live: etcd on a server with `registry =
/// "etcd"` (so every server has them), else the agent's state database.
fn acl_api(
    config: &FileConfig,
    state: &Arc<StateStore>,
    compiler: &crate::capabilities::acl::etcd_acl::SharedCompiler,
) -> Result<crate::capabilities::acl::backend::ApiAcl> {
    use crate::capabilities::acl::{backend::ApiAcl, etcd_acl::EtcdAcl};
    let Some(settings) = etcd_settings(config)? else {
        return Ok(ApiAcl::local(state.clone()));
    };
    let shared = Arc::default();
    let etcd = EtcdAcl::start(&settings, Arc::clone(&shared), compiler.clone())
        .context("the etcd ACL store")?;
    Ok(ApiAcl::etcd(shared, etcd))
}

/// `server { registry = "etcd", etcd { ... } }` on a server; `None` otherwise.
fn etcd_settings(config: &FileConfig) -> Result<Option<EtcdSettings>> {
    let etcd = match config.server.etcd_registry()? {
        Some(etcd) if config.server.enabled => etcd,
        _ => return Ok(None),
    };
    Ok(Some(EtcdSettings {
        endpoints: etcd.endpoints.clone(),
        prefix: etcd.prefix.clone().unwrap_or_else(|| "/caravan/".into()),
        ca_file: etcd.ca_file.clone(),
        cert_file: etcd.cert_file.clone(),
        key_file: etcd.key_file.clone(),
        username: etcd.username.clone(),
        password: etcd.password.clone(),
    }))
}

/// Nomad's role names (region `global`) that agents' certificates carry.
const SERVER_ROLE: &str = "server.global.nomad";
const CLIENT_ROLE: &str = "client.global.nomad";

/// With `tls { http = true }`, how this agent calls other agents (a client its servers, a
/// server its clients): over https, presenting its own certificate, trusting `ca_file`,
/// and with `verify_server_hostname` checking that the peer's certificate names `role`.
fn outgoing_tls(config: &FileConfig, role: &str) -> Result<Option<http_client::TlsClient>> {
    let tls = &config.tls;
    if !tls.http {
        return Ok(None);
    }
    let ca_file = tls
        .ca_file
        .as_ref()
        .context("tls.http = true needs tls.ca_file for the calls between agents")?;
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        bail!("tls.http = true needs tls.cert_file and tls.key_file");
    };
    let role = tls.verify_server_hostname.then_some(role);
    http_client::TlsClient::agent(ca_file, cert, key, role)
        .map(Some)
        .context("the TLS of calls between agents")
}

/// What `tls { http = true ... }` asks of the HTTP server, if anything.
fn tls_settings(config: &FileConfig) -> Result<Option<TlsSettings>> {
    let tls = &config.tls;
    if !tls.http {
        return Ok(None);
    }
    Ok(Some(TlsSettings {
        cert_file: tls.cert_file.clone().context("tls.cert_file is required")?,
        key_file: tls.key_file.clone().context("tls.key_file is required")?,
        ca_file: tls.ca_file.clone(),
        verify_clients: tls.verify_https_client,
        tls13_only: tls.tls_min_version.as_deref() == Some("tls13"),
        handshake_timeout: config.limits.handshake_timeout()?,
    }))
}

/// The machine's host name, Nomad's default node name.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Re-read the specs directory whenever it changes. The directory itself is watched, not
/// each file: a watch on a file dies with the first atomic rename.
fn watch_specs(registry: Arc<Registry>) -> Result<notify::RecommendedWatcher> {
    let dir = registry.specs_dir().to_path_buf();
    crate::util::watch::watch_dir(&dir, false, SPECS_DEBOUNCE, "specs-watcher", move || {
        registry.reconcile()
    })
}

/// Load the ACL files now and again whenever one changes, compiling policies with the core.
fn watch_acl(runtime: Arc<Runtime>) -> Result<notify::RecommendedWatcher> {
    let dir = runtime.context().acl.dir().to_path_buf();
    let reload = move || {
        let ctx = runtime.context();
        ctx.acl
            .reload(|name, text| runtime.compile_policy(name, text));
    };
    reload();
    crate::util::watch::watch_dir(&dir, true, ACL_DEBOUNCE, "acl-watcher", reload)
}
