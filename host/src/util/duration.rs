//! Go's duration syntax (`"1m"`, `"1m30s"`, `"250ms"`, `"1.5h"`), which Nomad's
//! configuration and job specs use for intervals and timeouts, so caravan's files read
//! the same values Nomad's do.

use std::time::Duration;

/// Parse a Go duration string. Negative durations are refused: every duration caravan
/// reads is an interval or a timeout.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with(['-', '+']) {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    // Go refuses what overflows an int64 of nanoseconds (about 292 years).
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A duration written back in Go's syntax, for messages (`30s`, `250ms`).
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    match nanos {
        0.0 => "0s".into(),
        n if n < 1e3 => format!("{n}ns"),
        n if n < 1e6 => format!("{}µs", n / 1e3),
        n if n < 1e9 => format!("{}ms", n / 1e6),
        n => format!("{}s", n / 1e9),
    }
}

#[cfg(test)]
mod tests;
