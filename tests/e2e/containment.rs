//! The path-containment battery: nothing outside an allocation directory, nothing in a
//! task's `secrets`, and no request that hangs, whatever the path.

use std::os::unix::fs::symlink;

use crate::support::Agent;

const SECRET: &str = "TOP-SECRET-OUTSIDE";

#[test]
fn no_path_escapes_or_hangs() {
    let agent = Agent::start();
    let dir = agent.alloc_dir();
    std::fs::write(agent.data_dir.join("outside.txt"), SECRET).unwrap();
    let data = dir.join("alloc/data");
    symlink("/etc", data.join("abs-out")).unwrap();
    symlink("/etc/passwd", data.join("abs-file")).unwrap();
    symlink("../../../../outside.txt", data.join("rel-out")).unwrap();
    symlink("rel-out", data.join("chain-out")).unwrap();
    symlink("loop-b", data.join("loop-a")).unwrap();
    symlink("loop-a", data.join("loop-b")).unwrap();
    symlink("../../demo/secrets/token", data.join("to-secret")).unwrap();
    symlink("../../demo/secrets", data.join("secrets-dir")).unwrap();
    symlink(
        format!("/proc/{}/root", std::process::id()),
        data.join("magic"),
    )
    .unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(data.join("fifo"))
        .status()
        .unwrap();
    assert!(fifo.success());

    let long = "a".repeat(10_000);
    let too_deep = "d/".repeat(3_000);
    let deep = "d/".repeat(2_000);
    let paths = [
        "..",
        "../..",
        "../outside.txt",
        "/../../outside.txt",
        "alloc/../../outside.txt",
        "a/../../x",
        "%2e%2e",
        "%2e%2e%2foutside.txt",
        "..%2f..%2foutside.txt",
        "%252e%252e",
        "/etc/passwd",
        "//etc/passwd",
        "alloc/data/abs-out/passwd",
        "alloc/data/abs-file",
        "alloc/data/rel-out",
        "alloc/data/chain-out",
        "alloc/data/loop-a",
        "alloc/data/to-secret",
        "alloc/data/secrets-dir/token",
        "alloc/data/magic/etc/passwd",
        "alloc/data/fifo",
        "demo/secrets/token",
        "/demo/./secrets/token",
        "demo//secrets/../secrets/token",
        "alloc/data%00/x",
        "%00",
        &long,
        &too_deep,
        &deep,
        "/proc/self/environ",
        "alloc/logs/demo.stdout.0/..",
    ];
    let mut checked = 0;
    for path in paths {
        let shown: String = path.chars().take(60).collect();
        for op in ["ls", "stat", "cat", "readat"] {
            let target = format!(
                "/v1/client/fs/{op}/{}?path={path}&offset=0",
                agent.demo_alloc
            );
            // A request that hangs (a FIFO opened, a loop) fails in `get`, which gives up
            // after `support::PATIENCE`; how long an answer took is not asserted.
            let reply = agent.get(&target);
            let text = reply.text();
            assert!(
                !text.contains(SECRET),
                "{op} {shown} leaked the outside file: {text}"
            );
            assert!(!text.contains("root:"), "{op} {shown} leaked /etc/passwd");
            assert!(
                !text.contains("s3cr3t"),
                "{op} {shown} leaked a task secret"
            );
            assert!(
                !text.contains(&*agent.data_dir.to_string_lossy()),
                "{op} {shown} leaked a host path: {text}"
            );
            assert!(reply.status < 500, "{op} {shown}: {} {text}", reply.status);
            if op == "cat" || op == "readat" {
                assert_ne!(reply.status, 200, "{op} {shown} served content: {text}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, paths.len() * 4);

    // The secrets directory may be listed and stat'ed (as Nomad), never read.
    let ls = agent.get(&format!(
        "/v1/client/fs/ls/{}?path=demo/secrets",
        agent.demo_alloc
    ));
    assert_eq!(ls.status, 200);
    let via_link = agent.get(&format!(
        "/v1/client/fs/cat/{}?path=alloc/data/to-secret",
        agent.demo_alloc
    ));
    assert_eq!(
        (via_link.status, via_link.text().as_str()),
        (403, "Reading secret file prohibited: alloc/data/to-secret")
    );
    // A file merely named like the secrets dir is fine (Nomad's prefix check refuses it).
    std::fs::write(dir.join("demo/secrets2.txt"), "public").unwrap();
    let near = agent.get(&format!(
        "/v1/client/fs/cat/{}?path=demo/secrets2.txt",
        agent.demo_alloc
    ));
    assert_eq!((near.status, near.text().as_str()), (200, "public"));
}
