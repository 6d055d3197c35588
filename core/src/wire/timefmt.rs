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
mod tests;
