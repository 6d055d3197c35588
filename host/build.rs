//! Builds the core crate for `wasm32-unknown-unknown` and turns it into a component, so the
//! daemon embeds a default core and a fresh clone needs no separate build step.
//!
//! The nested cargo gets its own target directory (sharing the outer one deadlocks on its
//! lock) and none of the outer build's compiler flags or wrappers (clippy's included).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .parent()
        .context("host crate has no parent dir")?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for watched in [
        "core/src",
        "core/ui",
        "core/Cargo.toml",
        "tests/cores",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    ensure_wasm_target()?;
    let modules = build_modules(workspace)?;
    for (module, name) in
        modules
            .iter()
            .zip(["core.wasm", "faulty-core.wasm", "start-trap-core.wasm"])
    {
        let component = wit_component::ComponentEncoder::default()
            .module(module)
            .context("failed to read the module's component metadata")?
            .validate(true)
            .encode()
            .context("failed to componentize the module")?;
        std::fs::write(out_dir.join(name), &component)?;
    }
    Ok(())
}

/// rustup installs the targets listed in rust-toolchain.toml only with a new toolchain, so a
/// machine that already has the toolchain needs this (it is quick and idempotent).
fn ensure_wasm_target() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output()?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => bail!("the {TARGET} target is missing; run `rustup target add {TARGET}`"),
    }
}

/// The real core and the test cores (used only by the isolation and swap tests), in one
/// cargo run.
fn build_modules(workspace: &Path) -> Result<[Vec<u8>; 3]> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = workspace.join("target").join("core-build");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--package", "caravan-core"])
        .args(["--package", "caravan-faulty-core"])
        .args(["--package", "caravan-start-trap-core"])
        .args(["--lib", "--profile", "core"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    // SIMD: the core's base64 of stream frames uses wasm's 128-bit SIMD (core/src/wire/b64.rs);
    // every runtime we run the core on (wasmtime, Node through jco, wasmtime-py) has it.
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128");
    let status = cmd.status().context("failed to run cargo for the core")?;
    if !status.success() {
        bail!("building the core for {TARGET} failed");
    }
    let read = |name: &str| {
        let wasm = target_dir.join(TARGET).join("core").join(name);
        std::fs::read(&wasm).with_context(|| format!("failed to read {}", wasm.display()))
    };
    Ok([
        read("caravan_core.wasm")?,
        read("caravan_faulty_core.wasm")?,
        read("caravan_start_trap_core.wasm")?,
    ])
}
