//! Go's duration syntax (`30s`, `1m30s`, `250ms`, `1.5h`), which Nomad's flags and
//! configuration use for every time setting, so caravan's read the same way.

use std::time::Duration;

/// Nanoseconds per unit, longest unit names first so `ms` is not read as `m`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parse a non-negative Go duration. Every number needs a unit, as in Go (`"0"` alone is
/// accepted, as Go accepts it).
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("invalid duration {text:?} (expected e.g. \"30s\", \"500ms\", \"1m30s\")");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits_end);
        let (&(_, nanos), tail) = UNITS
            .iter()
            .filter_map(|entry| tail.strip_prefix(entry.0).map(|t| (entry, t)))
            // `m` is a prefix of `ms`: prefer the longest unit that matches.
            .max_by_key(|((unit, _), _)| unit.len())
            .ok_or_else(invalid)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(nanos).ok_or_else(invalid)?;
        let mut scale = nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            part += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = tail;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Print a duration in the largest unit below it (`30s`, `1.5s`, `250ms`), a form
/// [`parse`] reads back, so messages quote settings the way they are written.
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
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("2h45m", Duration::from_secs(9900)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in ["", "30", "s", "1.2.3s", "5 s", "-1s", "1d", "1sx", "..s"] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
        assert!(parse("1h").is_ok());
        assert!(parse("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_round_values() {
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_micros(15_500)), "15.5ms");
        for d in [
            Duration::from_micros(15_500),
            Duration::from_nanos(1_250),
            Duration::from_secs(90),
        ] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
