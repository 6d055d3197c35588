use super::*;
use crate::fake::Fake;

#[test]
fn go_durations() {
    assert_eq!(parse_duration("10m"), Ok(600_000_000_000));
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
    assert_eq!(parse_duration(".5ms"), Ok(500_000));
    assert_eq!(parse_duration("-2h"), Ok(-7_200_000_000_000));
    assert_eq!(parse_duration("0"), Ok(0));
    assert_eq!(parse_duration("300us"), Ok(300_000));
    assert_eq!(
        parse_duration("10"),
        Err(r#"time: missing unit in duration "10""#.into())
    );
    assert_eq!(
        parse_duration("10d"),
        Err(r#"time: unknown unit "d" in duration "10d""#.into())
    );
    assert_eq!(
        parse_duration(""),
        Err(r#"time: invalid duration """#.into())
    );
    assert_eq!(
        parse_duration("m"),
        Err(r#"time: invalid duration "m""#.into())
    );
    assert!(parse_duration("99999999999h").is_err());
}

#[test]
fn options_and_their_errors() {
    let host = Fake::default();
    let now = host.now().unix_nanos();
    let q = |s: &str| Query::parse(s);
    let o = options(&host, &q("since=10m&timestamps=true"), false).unwrap();
    assert_eq!(o.since, Some(now - 600_000_000_000));
    assert!(o.timestamps && o.prefixes());
    let o = options(&host, &q("until=2026-12-01T13:00:00Z"), true).unwrap();
    assert_eq!(o.until, Some(1_796_130_000_000_000_000));
    assert!(o.merged);
    assert!(
        !options(&host, &q("until_exit=true"), false)
            .unwrap()
            .prefixes()
    );
    let err = |s: &str| options(&host, &q(s), false).unwrap_err().message;
    assert_eq!(
        err("since=2026-12-01"),
        r#"failed to parse since field: parsing time "2026-12-01" as RFC 3339 (2006-01-02T15:04:05Z07:00)"#
    );
    assert_eq!(
        err("until=yesterday"),
        r#"failed to parse until field: time: invalid duration "yesterday""#
    );
    assert_eq!(err("since=1m&until=2m"), "since must not be after until");
    assert_eq!(
        err("timestamps=yes"),
        r#"failed to parse timestamps field to boolean: strconv.ParseBool: parsing "yes": invalid syntax"#
    );
}

#[test]
fn filtering_and_prefixes() {
    let o = LineOptions {
        since: Some(10),
        until: Some(20),
        timestamps: true,
        merged: true,
        until_exit: false,
    };
    assert!(!o.shows(Some(9)) && o.shows(Some(10)) && o.shows(Some(20)) && !o.shows(Some(21)));
    assert!(!o.shows(None));
    assert!(LineOptions::default().shows(None));
    let mut out = Vec::new();
    o.prefix(&mut out, Some(0), "stderr");
    assert_eq!(out, b"1970-01-01T00:00:00.000000000Z stderr: ");
    out.clear();
    o.prefix(&mut out, None, "stdout");
    assert_eq!(out, b"stdout: ");
}
