use super::*;

#[test]
fn libraries_log_warnings_and_errors_only() {
    use tracing::Level;
    assert_eq!(default_filter(Level::INFO), "WARN,caravan=INFO");
    assert_eq!(default_filter(Level::TRACE), "WARN,caravan=TRACE");
    assert_eq!(default_filter(Level::ERROR), "ERROR,caravan=ERROR");
    for level in LEVELS {
        let filter = default_filter(check_level(level).unwrap());
        assert!(EnvFilter::try_new(&filter).is_ok(), "{filter}");
    }
}

#[test]
fn nomads_levels_in_any_case() {
    for level in LEVELS {
        assert!(check_level(level).is_ok());
        assert!(check_level(&level.to_lowercase()).is_ok());
    }
    assert_eq!(check_level("Warn").unwrap(), tracing::Level::WARN);
    assert!(check_level("loud").is_err());
    assert!(check_level("").is_err());
    assert!(
        check_level("3").is_err(),
        "tracing's numbers are not Nomad's"
    );
}
