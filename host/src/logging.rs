//! The daemon's log: one line per event on stderr, `<RFC 3339 time> [LEVEL] message`,
//! in the style of Nomad's agent output.

use std::time::{SystemTime, UNIX_EPOCH};

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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "{} [{}] {message}",
        format_utc(now.as_secs()),
        level.label()
    );
}

/// RFC 3339 in UTC with Go's `RFC3339Nano` fraction (trailing zeros dropped), the way
/// Nomad's JSON writes times.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = format_utc(since.as_secs());
    let fraction = format!("{:09}", since.subsec_nanos());
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        return seconds;
    }
    format!("{}.{fraction}Z", seconds.trim_end_matches('Z'))
}

/// `YYYY-MM-DDTHH:MM:SSZ` without pulling in a date crate.
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Log at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Info, &format!($($arg)*)) };
}

/// Log at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Warn, &format!($($arg)*)) };
}

/// Log at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Error, &format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::format_utc(951_782_400 + 3_661),
            "2000-02-29T01:01:01Z"
        );
    }

    #[test]
    fn formats_rfc3339_nano() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |nanos| UNIX_EPOCH + Duration::new(951_782_400, nanos);
        assert_eq!(super::rfc3339(at(0)), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(at(120_000_000)), "2000-02-29T00:00:00.12Z");
        assert_eq!(super::rfc3339(at(7)), "2000-02-29T00:00:00.000000007Z");
    }
}
