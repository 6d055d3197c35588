//! Small helpers every room may use; nothing here knows about the API or the core.

pub mod disk;
pub mod duration;
pub mod follow;
pub mod fs;
pub mod logging;
pub mod open_files;
pub mod testing;
pub mod time;
pub mod watch;

use std::sync::{Mutex, MutexGuard};

/// Lock a mutex whose data stays whole even if a holder panicked (every critical section
/// here leaves its data consistent), so a panic elsewhere never takes the daemon down.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lower-case hex, as sha256sum prints digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
