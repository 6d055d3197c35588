//! Waiting in tests: for a state, never for a time.
//!
//! A test that sleeps and then checks, or that asserts how long something took, fails on a
//! loaded machine. These helpers poll for the state a test needs, with one long deadline
//! that is only a guard against a hang: reaching it means the behaviour is wrong, not
//! that the machine is slow. Public so the end-to-end tests use the same helpers.

use std::time::{Duration, Instant};

/// How long a test waits for a state before it fails: a guard against hangs only.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Poll `check` until it yields a value, for up to [`PATIENCE`]; panic naming `what` if it
/// never does.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll `check` until it holds, for up to [`PATIENCE`].
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, || check().then_some(()))
}
