//! Writes the built-in core component to a file, so runtimes other than the daemon's (jco on
//! Node, for the shared vectors) load exactly the component the daemon embeds.
//!
//! Usage: `cargo run -p caravan --example write_core -- target/core.wasm`

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: write_core <path>");
        return std::process::ExitCode::FAILURE;
    };
    if let Err(err) = std::fs::write(&path, caravan::runtime::DEFAULT_CORE) {
        eprintln!("failed to write {path}: {err}");
        return std::process::ExitCode::FAILURE;
    }
    println!("{path}: {} bytes", caravan::runtime::DEFAULT_CORE.len());
    std::process::ExitCode::SUCCESS
}
