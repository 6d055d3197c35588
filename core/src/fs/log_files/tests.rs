use super::*;

#[test]
fn atoi_errors_match_go() {
    assert_eq!(
        atoi("x").unwrap_err(),
        r#"failed to convert "x" to a log index: strconv.Atoi: parsing "x": invalid syntax"#
    );
    assert_eq!(atoi("12"), Ok(12));
}
