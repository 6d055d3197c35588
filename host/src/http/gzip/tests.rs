use super::*;

fn accepts(value: &str) -> bool {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
    wants_gzip(&headers)
}

#[test]
fn gzip_negotiation() {
    assert!(accepts("gzip"));
    assert!(accepts("gzip, deflate"));
    assert!(accepts("deflate, gzip, br, zstd"));
    assert!(accepts("GZIP;q=0.5"));
    assert!(!accepts("gzip;q=0"));
    assert!(!accepts("identity"));
    assert!(!accepts("br"));
}
