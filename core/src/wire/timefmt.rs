//! UTC timestamps as Go prints them.
//!
//! Nomad's file listings carry `ModTime` as a Go `time.Time`, which its JSON encoder
//! writes in the `time.RFC3339Nano` layout (fraction trimmed of trailing zeros, `Z`
//! for UTC). The host reports raw `(seconds, nanoseconds)` and this crate has no clock
//! or date library, so the calendar arithmetic lives here.

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i128 = 86_400;

/// Formats a Unix time as Go's `time.Unix(s, ns).UTC().Format(time.RFC3339Nano)`.
pub fn rfc3339_nano(seconds: i64, nanoseconds: u32) -> String {
    // Go's time.Unix carries whole seconds out of an oversized nanosecond count.
    let total = i128::from(seconds) * NANOS_PER_SEC + i128::from(nanoseconds);
    let secs = total.div_euclid(NANOS_PER_SEC);
    let frac = total.rem_euclid(NANOS_PER_SEC);

    let days = secs.div_euclid(SECS_PER_DAY);
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);

    let mut out = String::with_capacity(30);
    push_year(&mut out, year);
    out.push_str(&format!(
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    ));
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Nanoseconds since the Unix epoch, saturating at the `i64` limits.
pub fn unix_nanos(seconds: i64, nanoseconds: u32) -> i64 {
    let total = i128::from(seconds) * NANOS_PER_SEC + i128::from(nanoseconds);
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

/// A Unix time in nanoseconds with all nine fraction digits, as `docker logs -t` writes it
/// (Go's `2006-01-02T15:04:05.000000000Z07:00` in UTC): fixed width, so it sorts as text.
pub fn rfc3339_fixed(nanos: i64) -> String {
    let total = i128::from(nanos);
    let secs = total.div_euclid(NANOS_PER_SEC);
    let frac = total.rem_euclid(NANOS_PER_SEC);
    let mut out = rfc3339_nano(i64::try_from(secs).unwrap_or(0), 0);
    out.pop();
    out.push_str(&format!(".{frac:09}Z"));
    out
}

/// Parses an RFC 3339 time (`2026-12-01T13:00:00Z`, `2026-12-01T14:00:00.5+01:00`: a `T`,
/// an optional fraction of up to nine digits, `Z` or a `±hh:mm` offset) into Unix
/// nanoseconds; `None` when it is not one or does not fit.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i128> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, c: u8| (b.get(i) == Some(&c)).then_some(());
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    sep(4, b'-')?;
    sep(7, b'-')?;
    sep(10, b'T')?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    sep(13, b':')?;
    sep(16, b':')?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        frac = num(start..i)? * 10i128.pow((9 - digits) as u32);
    }
    let offset = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b':')?;
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset * 60;
    i64::try_from(secs * NANOS_PER_SEC + frac).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of `civil_from_days`).
pub fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's year field: at least four digits, with a leading `-` for years before 1 BCE.
fn push_year(out: &mut String, year: i128) {
    if year < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:04}", year.unsigned_abs()));
}

/// Proleptic Gregorian `(year, month, day)` for a count of days since 1970-01-01.
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    // Work in 400-year eras (146097 days each) counted from 0000-03-01, so that the
    // leap day falls at the end of each shifted year and eras repeat exactly.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // day is in 1..=31 and month in 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// Go's `time.Duration.String()` (`1h0m0s`, `2m30s`, `1.5s`, `250ms`, `0s`), as Nomad
/// writes a token's `ExpirationTTL`.
pub fn go_duration(nanos: u64) -> String {
    /// `value / unit` with Go's fraction: trailing zeros dropped, no point when whole.
    fn scaled(value: u64, unit: u64) -> String {
        let digits = unit.ilog10() as usize;
        let fraction = format!("{:0digits$}", value % unit);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            format!("{}", value / unit)
        } else {
            format!("{}.{fraction}", value / unit)
        }
    }
    const SECOND: u64 = 1_000_000_000;
    match nanos {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", scaled(n, 1_000)),
        n if n < SECOND => format!("{}ms", scaled(n, 1_000_000)),
        n => {
            let (hours, minutes) = (n / (3600 * SECOND), n / (60 * SECOND) % 60);
            let seconds = format!("{}s", scaled(n % (60 * SECOND), SECOND));
            match (hours, minutes) {
                (0, 0) => seconds,
                (0, m) => format!("{m}m{seconds}"),
                (h, m) => format!("{h}h{m}m{seconds}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn fractions_trimmed() {
        assert_eq!(
            rfc3339_nano(1_709_210_096, 500_000_000),
            "2024-02-29T12:34:56.5Z"
        );
        assert_eq!(
            rfc3339_nano(1_709_210_096, 1),
            "2024-02-29T12:34:56.000000001Z"
        );
        assert_eq!(rfc3339_nano(1_709_210_096, 0), "2024-02-29T12:34:56Z");
        assert_eq!(
            rfc3339_nano(1_709_210_096, 123_456_789),
            "2024-02-29T12:34:56.123456789Z"
        );
        assert_eq!(
            rfc3339_nano(1_709_210_096, 120_000_000),
            "2024-02-29T12:34:56.12Z"
        );
        assert_eq!(
            rfc3339_nano(1_709_210_096, 999_999_999),
            "2024-02-29T12:34:56.999999999Z"
        );
        assert_eq!(rfc3339_nano(0, 1_000), "1970-01-01T00:00:00.000001Z");
    }

    #[test]
    fn leap_days() {
        assert_eq!(rfc3339_nano(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_nano(951_868_799, 0), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339_nano(951_868_800, 0), "2000-03-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_709_164_800, 0), "2024-02-29T00:00:00Z");
        // 1900 and 2100 are not leap years.
        assert_eq!(rfc3339_nano(-2_203_977_600, 0), "1900-02-28T00:00:00Z");
        assert_eq!(rfc3339_nano(-2_203_891_200, 0), "1900-03-01T00:00:00Z");
        assert_eq!(rfc3339_nano(4_107_456_000, 0), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339_nano(4_107_542_400, 0), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn negative_seconds() {
        assert_eq!(rfc3339_nano(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_nano(-1, 500_000_000), "1969-12-31T23:59:59.5Z");
        assert_eq!(rfc3339_nano(-86_400, 0), "1969-12-31T00:00:00Z");
        assert_eq!(rfc3339_nano(-86_401, 0), "1969-12-30T23:59:59Z");
        assert_eq!(rfc3339_nano(-2_208_988_800, 0), "1900-01-01T00:00:00Z");
    }

    #[test]
    fn assorted_dates() {
        assert_eq!(rfc3339_nano(86_399, 0), "1970-01-01T23:59:59Z");
        assert_eq!(rfc3339_nano(946_684_799, 0), "1999-12-31T23:59:59Z");
        assert_eq!(rfc3339_nano(946_684_800, 0), "2000-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_234_567_890, 0), "2009-02-13T23:31:30Z");
        assert_eq!(rfc3339_nano(2_147_483_647, 0), "2038-01-19T03:14:07Z");
        assert_eq!(rfc3339_nano(253_402_300_799, 0), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_nano(253_402_300_800, 0), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(-62_135_596_800, 0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(-62_167_219_200, 0), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(-62_167_219_201, 0), "-0001-12-31T23:59:59Z");
    }

    #[test]
    fn oversized_nanoseconds_carry() {
        assert_eq!(rfc3339_nano(0, 1_000_000_000), "1970-01-01T00:00:01Z");
        assert_eq!(rfc3339_nano(-1, 1_500_000_000), "1970-01-01T00:00:00.5Z");
        assert_eq!(rfc3339_nano(0, u32::MAX), "1970-01-01T00:00:04.294967295Z");
    }

    #[test]
    fn extreme_seconds_do_not_panic() {
        assert!(rfc3339_nano(i64::MAX, u32::MAX).ends_with('Z'));
        assert!(rfc3339_nano(i64::MIN, 0).starts_with('-'));
    }

    #[test]
    fn fixed_width_and_parsing_round_trip() {
        assert_eq!(rfc3339_fixed(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_fixed(-1), "1969-12-31T23:59:59.999999999Z");
        let t = 1_796_130_000_123_456_789;
        assert_eq!(rfc3339_fixed(t), "2026-12-01T13:00:00.123456789Z");
        assert_eq!(parse_rfc3339("2026-12-01T13:00:00.123456789Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-12-01T14:00:00.123456789+01:00"),
            Some(t)
        );
        assert_eq!(
            parse_rfc3339("2026-12-01T13:00:00.5Z"),
            Some(1_796_130_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800 * 1_000_000_000)
        );
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01 13:00:00Z",
            "2026-12-01T13:00:00",
            "2026-13-01T13:00:00Z",
            "2025-02-29T13:00:00Z",
            "2026-12-01T13:00:00.Z",
            "2026-12-01T13:00:00.1234567890Z",
            "2026-12-01T13:00:00+0100",
            "2026-12-01T13:00:00Zx",
            "9999999-12-01T13:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_nanos_values() {
        assert_eq!(unix_nanos(0, 0), 0);
        assert_eq!(unix_nanos(1, 5), 1_000_000_005);
        assert_eq!(unix_nanos(-1, 500_000_000), -500_000_000);
        assert_eq!(unix_nanos(1_709_210_096, 1), 1_709_210_096_000_000_001);
        assert_eq!(unix_nanos(i64::MAX, 0), i64::MAX);
        assert_eq!(unix_nanos(i64::MIN, 0), i64::MIN);
        assert_eq!(unix_nanos(9_223_372_036, 854_775_807), i64::MAX);
        assert_eq!(unix_nanos(9_223_372_036, 854_775_808), i64::MAX);
        assert_eq!(unix_nanos(-9_223_372_037, 145_224_192), i64::MIN);
        assert_eq!(unix_nanos(-9_223_372_037, 145_224_191), i64::MIN);
        assert_eq!(unix_nanos(-9_223_372_037, 145_224_193), i64::MIN + 1);
    }

    #[test]
    fn go_durations_print_as_go() {
        for (nanos, text) in [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (1_500_000_000, "1.5s"),
            (30_000_000_000, "30s"),
            (150_000_000_000, "2m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (90_061_000_000_000, "25h1m1s"),
        ] {
            assert_eq!(go_duration(nanos), text, "{nanos}");
        }
    }
}
