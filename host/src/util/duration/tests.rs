use super::*;

#[test]
fn parses_go_durations() {
    assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
    assert_eq!(parse("10µs"), Ok(Duration::from_micros(10)));
    assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    assert_eq!(parse("0"), Ok(Duration::ZERO));
    assert_eq!(parse("0s"), Ok(Duration::ZERO));
}

#[test]
fn refuses_what_go_refuses_and_negatives() {
    for bad in [
        "",
        "5",
        "s",
        "1x",
        "-1s",
        "+1s",
        "1..5s",
        "1m 30s",
        "1e3s",
        "99999999999h",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} was accepted");
    }
}
