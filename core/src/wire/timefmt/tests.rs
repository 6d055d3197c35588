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
