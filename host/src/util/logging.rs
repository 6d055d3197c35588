//! The daemon's log: one line per event on stderr, `<RFC 3339 time> [LEVEL] message`,
//! in the style of Nomad's agent output.

use std::time::SystemTime;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Write one line; debug lines only when `CARAVAN_DEBUG` is set.
pub fn log(level: Level, message: &str) {
    if level == Level::Debug && std::env::var_os("CARAVAN_DEBUG").is_none() {
        return;
    }
    let (seconds, _) = crate::util::time::unix(SystemTime::now());
    eprintln!(
        "{} [{}] {message}",
        caravan_core::timefmt::rfc3339_nano(seconds, 0),
        level.label()
    );
}

/// Log at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::util::logging::log($crate::util::logging::Level::Info, &format!($($arg)*)) };
}

/// Log at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::util::logging::log($crate::util::logging::Level::Warn, &format!($($arg)*)) };
}

/// Log at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::util::logging::log($crate::util::logging::Level::Error, &format!($($arg)*)) };
}
