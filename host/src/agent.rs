//! `caravan agent`: assemble the daemon from its configuration and serve until a signal.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};

use crate::alloc_fs::AllocFs;
use crate::allocs::Registry;
use crate::capabilities::HostContext;
use crate::config::{FileConfig, default_static_meta};
use crate::runtime::{DEFAULT_CORE, Runtime};
use crate::state::StateStore;
use crate::stats::HostStats;

/// How often host stats are sampled (Nomad's `collection_interval` default).
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Spec-directory events closer together than this are handled as one.
const SPECS_DEBOUNCE: Duration = Duration::from_millis(100);
/// ACL file changes take effect this soon after the last write of a burst.
const ACL_DEBOUNCE: Duration = Duration::from_millis(10);

/// What `caravan agent` was asked to do.
#[derive(Debug, Default)]
pub struct AgentOptions {
    pub dev: bool,
    pub config_files: Vec<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub bind_addr: Option<String>,
    pub http_port: Option<u16>,
    pub specs_dir: Option<PathBuf>,
    pub core: Option<PathBuf>,
    pub max_streams: Option<usize>,
    pub acl_enabled: bool,
}

/// Run the agent until SIGINT or SIGTERM.
pub async fn run(options: AgentOptions) -> Result<()> {
    let mut config = FileConfig::default();
    if options.dev {
        config.bind_addr = Some("127.0.0.1".into());
    }
    for file in &options.config_files {
        config.merge(FileConfig::load(file)?);
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

    // A dev agent without a data dir gets a temporary one, removed when it exits.
    let temp_dir = match (&config.data_dir, options.dev) {
        (None, true) => Some(tempfile::Builder::new().prefix("caravan-dev-").tempdir()?),
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

    let state = Arc::new(StateStore::open(&data_dir.join("client"))?);
    let node_id = state.node_id()?;
    let demo_alloc = if options.dev {
        Some(write_demo_spec(&specs_dir)?)
    } else {
        None
    };
    let registry = Arc::new(Registry::open(&alloc_root, &specs_dir, state.clone())?);
    if let Some(id) = &demo_alloc {
        write_demo_files(&alloc_root.join(id))?;
    }
    let _watcher = watch_specs(registry.clone())?;

    let mut static_meta = default_static_meta();
    static_meta.extend(config.client.meta.clone());
    if options.acl_enabled {
        config.acl.enabled = true;
    }
    let acl = crate::acl_store::AclStore::open(&data_dir.join("acl"), config.acl.enabled)?;
    let ctx = Arc::new(HostContext {
        node_id: node_id.clone(),
        static_meta,
        state,
        registry,
        fs: AllocFs::new(&alloc_root).context("failed to open the alloc dir")?,
        stats: HostStats::start(alloc_root.clone(), STATS_INTERVAL),
        follower: crate::follow::Follower::new()?,
        acl,
    });
    // `-core native` answers requests with the natively linked core (a benchmark baseline);
    // the built-in component is still loaded, for ACL policy compilation.
    let native_core = options.core.as_deref() == Some(Path::new("native"));
    let core_bytes = match &options.core {
        Some(path) if !native_core => std::fs::read(path)
            .with_context(|| format!("failed to read core {}", path.display()))?,
        _ => DEFAULT_CORE.to_vec(),
    };
    let runtime = Arc::new(Runtime::new(ctx, &core_bytes).context("failed to load the core")?);
    let core = runtime.active();
    crate::info!("core {} loaded (sha256 {})", core.version, core.sha256);
    if native_core {
        crate::info!(
            "answering with the native core {}",
            *crate::native_core::VERSION
        );
    }
    let _acl_watcher = watch_acl(runtime.clone())?;

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
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "==> caravan agent: node {node_id}, data dir {}",
        data_dir.display()
    )?;
    if let Some(id) = &demo_alloc {
        print_dev_help(&mut out, addr, id)?;
    }
    writeln!(out, "Serving HTTP on http://{addr}/")?;
    out.flush()?;
    drop(out);

    let server_options = crate::server::ServerOptions {
        max_streams: options
            .max_streams
            .unwrap_or(crate::server::ServerOptions::default().max_streams),
        native_core,
    };
    crate::server::serve(listener, runtime, server_options, shutdown_signal()).await?;
    drop(temp_dir);
    Ok(())
}

/// Re-read the specs directory whenever it changes. The directory itself is watched, not
/// each file: a watch on a file dies with the first atomic rename.
fn watch_specs(registry: Arc<Registry>) -> Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| crate::follow::changes_something(&e.kind)) {
            let _ = tx.send(());
        }
    })?;
    watcher
        .watch(registry.specs_dir(), RecursiveMode::NonRecursive)
        .context("failed to watch the specs dir")?;
    std::thread::Builder::new()
        .name("specs-watcher".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Editors and atomic renames produce bursts: settle first, then reconcile once.
                while rx.recv_timeout(SPECS_DEBOUNCE).is_ok() {}
                registry.reconcile();
            }
        })?;
    Ok(watcher)
}

/// Load the ACL files now and again whenever one changes, compiling policies with the core.
fn watch_acl(runtime: Arc<Runtime>) -> Result<notify::RecommendedWatcher> {
    let reload = {
        let runtime = runtime.clone();
        move || {
            let ctx = runtime.context();
            ctx.acl
                .reload(|name, text| runtime.compile_policy(name, text));
        }
    };
    reload();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| crate::follow::changes_something(&e.kind)) {
            let _ = tx.send(());
        }
    })?;
    watcher
        .watch(runtime.context().acl.dir(), RecursiveMode::Recursive)
        .context("failed to watch the ACL dir")?;
    std::thread::Builder::new()
        .name("acl-watcher".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(ACL_DEBOUNCE).is_ok() {}
                reload();
            }
        })?;
    Ok(watcher)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        crate::error!("failed to install signal handlers; stop the agent with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The dev agent's demo allocation: kept if the specs dir already has one.
fn write_demo_spec(specs_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(specs_dir)?;
    let path = specs_dir.join("demo.json");
    if let Ok(existing) = std::fs::read(&path)
        && let Ok(spec) = serde_json::from_slice::<crate::allocs::AllocSpec>(&existing)
    {
        return Ok(spec.id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let spec = serde_json::json!({
        "ID": id,
        "Namespace": "default",
        "JobID": "demo",
        "TaskGroup": "demo",
        "Tasks": [{
            "Name": "demo",
            "Command": "/bin/sh",
            "Args": ["-c", "while :; do date; echo tick >&2; sleep 1; done"],
            "Env": {},
            "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": false}
        }]
    });
    crate::fsutil::write_atomic(&path, serde_json::to_vec_pretty(&spec)?.as_slice())?;
    Ok(id)
}

/// Files to look at until tasks run for real.
fn write_demo_files(alloc_dir: &Path) -> Result<()> {
    let files: BTreeMap<&str, String> = BTreeMap::from([
        (
            "alloc/logs/demo.stdout.0",
            (1..=20).map(|i| format!("demo line {i}\n")).collect(),
        ),
        ("alloc/logs/demo.stderr.0", "demo: starting\n".to_string()),
        (
            "alloc/data/config.json",
            "{\"greeting\": \"hello from caravan\"}\n".to_string(),
        ),
        (
            "demo/local/index.html",
            "<html><body><h1>caravan demo</h1></body></html>\n".to_string(),
        ),
        ("demo/secrets/token", "s3cr3t\n".to_string()),
    ]);
    for (path, content) in files {
        let path = alloc_dir.join(path);
        if !path.exists() {
            crate::fsutil::write_atomic(&path, content.as_bytes())?;
        }
    }
    Ok(())
}

fn print_dev_help(out: &mut impl Write, addr: std::net::SocketAddr, alloc: &str) -> Result<()> {
    writeln!(out, "==> dev mode: demo allocation {alloc}")?;
    writeln!(out, "    Try:")?;
    for example in [
        format!("/v1/client/fs/ls/{alloc}?path=alloc/logs"),
        format!("/v1/client/fs/cat/{alloc}?path=alloc/logs/demo.stdout.0"),
        format!("/v1/client/fs/stat/{alloc}?path=alloc/data/config.json"),
        "/v1/client/metadata".to_string(),
        "/v1/client/stats?pretty".to_string(),
    ] {
        writeln!(out, "      curl 'http://{addr}{example}'")?;
    }
    Ok(())
}
