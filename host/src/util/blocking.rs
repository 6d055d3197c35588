//! Blocking work inside a core call. Core calls run on the async runtime's worker threads
//! (the wasm core yields to the runtime at every epoch tick), so an import that may block —
//! on the disk, an `fsync`, a process or the network — must first step off its worker.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Run `work`, which may block. On a runtime worker it runs under
/// [`tokio::task::block_in_place`]: the worker's other tasks move to another thread while it
/// blocks here. Anywhere else (a blocking-pool thread, where streamed bodies are pulled; a
/// test; the CLI) it is simply called.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(handle)
            if handle.runtime_flavor() == RuntimeFlavor::MultiThread
                && std::env::var_os("CARAVAN_INLINE_IO").is_none() =>
        {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
