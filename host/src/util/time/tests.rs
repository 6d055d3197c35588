use super::*;

#[test]
fn before_1970_counts_down_with_positive_nanos() {
    let t = UNIX_EPOCH - Duration::new(1, 500_000_000);
    assert_eq!(unix(t), (-2, 500_000_000));
    assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(3)), (-3, 0));
    assert_eq!(rfc3339(t), "1969-12-31T23:59:58.5Z");
}

#[test]
fn parse_inverts_format() {
    for text in [
        "2026-01-02T03:04:05.5Z",
        "1999-12-31T23:59:59Z",
        "2024-02-29T00:00:00.000000001Z",
    ] {
        assert_eq!(rfc3339(parse_rfc3339(text).unwrap()), text);
    }
    assert_eq!(
        parse_rfc3339("2026-01-02T05:04:05+02:00"),
        parse_rfc3339("2026-01-02T03:04:05Z")
    );
    assert_eq!(parse_rfc3339("2026-13-02T03:04:05Z"), None);
    assert_eq!(parse_rfc3339("yesterday"), None);
}

#[test]
fn parses_offsets_and_fractions() {
    let at = |s: &str| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
    assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
    assert_eq!(
        at("2000-02-29T12:00:00.5Z"),
        Some(Duration::new(951_825_600, 500_000_000))
    );
    assert_eq!(
        at("2000-02-29T14:00:00+02:00"),
        Some(Duration::new(951_825_600, 0))
    );
    assert_eq!(at("yesterday"), None);
}
