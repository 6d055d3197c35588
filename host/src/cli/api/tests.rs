use super::*;

#[test]
fn queries_are_encoded() {
    assert_eq!(encode("alloc/logs/a b+c"), "alloc/logs/a%20b%2Bc");
    assert_eq!(
        with_query(
            "/v1/client/fs/logs/x",
            &[
                ("task", "web".into()),
                ("since", "2026-01-01T00:00:00+01:00".into())
            ]
        ),
        "/v1/client/fs/logs/x?task=web&since=2026-01-01T00%3A00%3A00%2B01%3A00"
    );
    assert_eq!(with_query("/p", &[]), "/p");
}
