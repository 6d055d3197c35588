//! `-dev`: a demo allocation whose task writes to stdout and stderr, and the example
//! requests printed at start-up.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;

/// The demo task: the date to stdout and `tick` to stderr every second. It logs the common
/// signals and keeps running, so every `alloc signal` example works on it; SIGTERM (a
/// stop) is logged too, and ends it at once. A signal to the task's process group also
/// ends the `sleep`, so the trap runs without waiting for the second to pass.
const DEMO_SCRIPT: &str = "\
for sig in HUP INT QUIT USR1 USR2; do trap \"echo 'demo: caught SIG$sig'\" $sig; done
trap \"echo 'demo: caught SIGTERM, stopping'; exit 0\" TERM
while :; do date; echo tick >&2; sleep 1; done";

/// The dev agent's demo allocation: kept if the specs dir already has one.
pub(super) fn write_demo_spec(specs_dir: &Path) -> Result<String> {
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
            "Args": ["-c", DEMO_SCRIPT],
            "Env": {},
            "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": false}
        }]
    });
    crate::util::fs::write_atomic(&path, serde_json::to_vec_pretty(&spec)?.as_slice())?;
    Ok(id)
}

/// Files beside the demo task's own output, for trying `fs/stat` and `fs/cat` on content
/// that does not change, and a secret to see refused.
pub(super) fn write_demo_files(alloc_dir: &Path) -> Result<()> {
    let files: BTreeMap<&str, &str> = BTreeMap::from([
        (
            "alloc/data/config.json",
            "{\"greeting\": \"hello from caravan\"}\n",
        ),
        (
            "demo/local/index.html",
            "<html><body><h1>caravan demo</h1></body></html>\n",
        ),
        ("demo/secrets/token", "s3cr3t\n"),
    ]);
    for (path, content) in files {
        let path = alloc_dir.join(path);
        if !path.exists() {
            crate::util::fs::write_atomic(&path, content.as_bytes())?;
        }
    }
    Ok(())
}

pub(super) fn print_dev_help(
    out: &mut impl Write,
    addr: std::net::SocketAddr,
    alloc: &str,
) -> Result<()> {
    writeln!(out, "==> dev mode: demo allocation {alloc}")?;
    writeln!(out, "    Try:")?;
    for example in [
        format!("/v1/client/fs/ls/{alloc}?path=alloc/logs"),
        format!("/v1/client/fs/cat/{alloc}?path=alloc/logs/demo.stdout.0"),
        format!("/v1/client/fs/stat/{alloc}?path=alloc/data/config.json"),
        format!("/v1/client/allocation/{alloc}/stats?pretty"),
        "/v1/client/metadata".to_string(),
        "/v1/client/stats?pretty".to_string(),
    ] {
        writeln!(out, "      curl 'http://{addr}{example}'")?;
    }
    Ok(())
}
