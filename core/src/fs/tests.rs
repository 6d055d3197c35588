use super::*;

#[test]
fn relative_paths_are_cleaned_and_escapes_refused() {
    assert_eq!(alloc_relative("/").unwrap(), "");
    assert_eq!(alloc_relative("alloc//logs/./x").unwrap(), "alloc/logs/x");
    assert_eq!(alloc_relative("/alloc/../web/local").unwrap(), "web/local");
    assert_eq!(alloc_relative("..foo").unwrap(), "..foo");
    for bad in ["..", "../x", "/../x", "a/../../x", "a/b/../../.."] {
        assert_eq!(alloc_relative(bad).unwrap_err(), escapes(), "{bad}");
    }
    assert_eq!(alloc_relative("a\0b").unwrap_err().status, 400);
}

#[test]
fn html_is_served_as_plain_text() {
    let headers = untrusted_content_headers("text/html; charset=utf-8");
    assert_eq!(
        headers[0],
        ("Content-Type".to_string(), "text/plain".to_string())
    );
    let headers = untrusted_content_headers("text/xml; charset=utf-8");
    assert_eq!(headers[0].1, "text/xml; charset=utf-8");
}
