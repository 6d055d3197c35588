//! The `caravan` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Hidden, started by the agent: before anything else, since it forks while it has one
    // thread.
    if args.first().map(String::as_str) == Some("executor") {
        return caravan::allocs::executor::server::main(&args[1..]);
    }
    caravan::cli::run(&args)
}
