use super::*;

#[test]
fn uuid_errors_follow_go_memdb() {
    assert_eq!(check_uuid("foo").unwrap_err(), "UUID must be 36 characters");
    assert_eq!(
        check_uuid("5fc98185-17ff-26bc-a802-0c74fa4-1c99").unwrap_err(),
        "UUID should have maximum of 4 \"-\"; got 5"
    );
    assert_eq!(
        check_uuid("5fc98185-17ff-26bc-a802-0c74fa471c9g").unwrap_err(),
        "Invalid UUID: encoding/hex: invalid byte: U+0067 'g'"
    );
    assert_eq!(
        check_uuid("5fc98185x17ff-26bc-a802-0c74fa471c99").unwrap_err(),
        "Input (without hyphens) must be even length"
    );
    assert!(check_uuid("5fc98185-17ff-26bc-a802-0c74fa471c99").is_ok());
}
