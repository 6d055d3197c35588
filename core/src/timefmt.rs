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
}
