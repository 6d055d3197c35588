//! The Debian package (`scripts/package`, issue 28), built from the binary under test: what it
//! holds, dpkg installing, removing and purging it in a scratch root (its maintainer scripts
//! included), and an agent started from it on its own configuration serving.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Agent;

/// Run `program` with `args`; its stdout, or a panic with what it said.
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&std::ffi::OsStr]) -> String {
    let program = program.as_ref();
    let output = Command::new(program).args(args).output().unwrap();
    let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(
        output.status.success(),
        "{program:?} {args:?}: {}\n{}",
        said(&output.stdout),
        said(&output.stderr)
    );
    said(&output.stdout)
}

/// dpkg acting on `root` as if it were `/`, running the maintainer scripts outside a chroot
/// with `DPKG_ROOT` set (as they are written for), and without libc6 in that root's database.
fn dpkg(root: &Path, args: &[&std::ffi::OsStr]) -> String {
    let root_flag = format!("--root={}", root.display());
    let mut all: Vec<&std::ffi::OsStr> = vec![
        root_flag.as_ref(),
        "--force-script-chrootless".as_ref(),
        "--force-depends".as_ref(),
        "--log=/dev/null".as_ref(),
    ];
    all.extend_from_slice(args);
    run("dpkg", &all)
}

#[test]
fn the_package_installs_an_agent_that_serves_and_keeps_its_data_until_a_purge() {
    let temp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = temp.path().join("out");
    // No compression: the binary under test is a debug build, and xz would take a minute.
    let deb = run(
        repo.join("scripts/package"),
        &[
            "--binary".as_ref(),
            env!("CARGO_BIN_EXE_caravan").as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--compression".as_ref(),
            "none".as_ref(),
        ],
    );
    let deb = PathBuf::from(deb.trim());

    let listing = run("dpkg-deb", &["-c".as_ref(), deb.as_os_str()]);
    for (mode, path) in [
        ("-rwxr-xr-x", "./usr/bin/caravan"),
        ("-rw-r--r--", "./usr/lib/systemd/system/caravan.service"),
        ("-rw-r--r--", "./etc/caravan/agent.hcl"),
        ("drwx------", "./var/lib/caravan/"),
        ("drwxr-xr-x", "./"),
    ] {
        assert!(
            listing.lines().any(|line| line.starts_with(mode)
                && line.contains(" root/root ")
                && line.ends_with(&format!(" {path}"))),
            "{mode} {path} in:\n{listing}"
        );
    }
    let conffiles = run(
        "dpkg-deb",
        &["-I".as_ref(), deb.as_os_str(), "conffiles".as_ref()],
    );
    assert_eq!(conffiles, "/etc/caravan/agent.hcl\n");

    // Install into a scratch root with dpkg itself.
    let root = temp.path().join("root");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    dpkg(&root, &["-i".as_ref(), deb.as_os_str()]);
    check_unit(&root.join("usr/lib/systemd/system/caravan.service"), &root);

    // The packaged binary on the packaged configuration, its data dir and port moved into
    // the scratch root by flags, serves the API.
    let data_dir = root.join("var/lib/caravan");
    let mut command = Command::new(root.join("usr/bin/caravan"));
    command
        .args(["agent", "-http-port=0"])
        .arg(format!(
            "-config={}",
            root.join("etc/caravan/agent.hcl").display()
        ))
        .arg(format!("-data-dir={}", data_dir.display()));
    let agent = Agent::from_command(command);
    assert!(agent.addr.starts_with("127.0.0.1:"), "{}", agent.addr);
    let reply = agent.get("/v1/client/metadata");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let node_id = agent.node_id.clone();
    assert!(agent.terminate().success());
    assert!(data_dir.join("client/state.redb").exists());

    // Removing keeps the node's data and the configuration; purging deletes them.
    dpkg(&root, &["--remove".as_ref(), "caravan".as_ref()]);
    assert!(!root.join("usr/bin/caravan").exists());
    assert!(
        data_dir.join("client/state.redb").exists(),
        "remove keeps data"
    );
    assert!(
        root.join("etc/caravan/agent.hcl").exists(),
        "and the conffile"
    );
    dpkg(&root, &["-i".as_ref(), deb.as_os_str()]);
    let mut command = Command::new(root.join("usr/bin/caravan"));
    command
        .args(["agent", "-http-port=0"])
        .arg(format!(
            "-config={}",
            root.join("etc/caravan/agent.hcl").display()
        ))
        .arg(format!("-data-dir={}", data_dir.display()));
    let agent = Agent::from_command(command);
    assert_eq!(agent.node_id, node_id, "a reinstall is the same node");
    assert!(agent.terminate().success());
    dpkg(&root, &["--purge".as_ref(), "caravan".as_ref()]);
    assert!(!data_dir.exists(), "purge deletes the data");
    assert!(!root.join("etc/caravan").exists(), "and the configuration");
}

/// The unit's keys, and `systemd-analyze verify` where systemd's tools are installed (the
/// unit is verified as installed, but for its `ExecStart`, pointed at the binary in `root`:
/// verify checks that the program exists).
fn check_unit(unit: &Path, root: &Path) {
    let text = std::fs::read_to_string(unit).unwrap();
    for key in [
        "Type=notify",
        "ExecStart=/usr/bin/caravan agent -config /etc/caravan/agent.hcl",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=process",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.lines().any(|line| line == key), "{key} in:\n{text}");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("caravan.service");
    let installed = root.join("usr/bin/caravan");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/caravan", &installed.display().to_string()),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    // verify exits 0 even on a value it cannot parse; it says so, though.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && said.is_empty(), "{said}");
}
