//! The `caravan` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Hidden, started by the agent: before anything else, since it forks while it has one
    // thread.
    if args.first().map(String::as_str) == Some("executor") {
        return caravan::allocs::executor::server::main(&args[1..]);
    }
    limit_malloc_arenas();
    caravan::cli::run(&args)
}

/// Two malloc arenas instead of glibc's default of eight per core. Every thread that calls
/// `malloc` under contention gets an arena of its own, up to that limit, and the agent's 64
/// blocking-pool threads each allocate per request: under a steady load the arenas kept
/// fragmenting, and memory rose without end (a 10-minute soak: PSS +2.5 MiB and still rising
/// with the default, flat with two; docs/performance.md, "Memory under a steady load").
/// Before any thread starts, so every thread uses the limit; glibc's own `MALLOC_ARENA_MAX`,
/// when set, still decides.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no other thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
