use super::*;

#[test]
fn tables_line_up_without_trailing_blanks() {
    let out = table(&[
        vec!["Mode", "Size", "Modified Time", "Name"],
        vec!["drwxr-xr-x", "4.0 KiB", "12/01/26 11:25:57 UTC", "alloc/"],
        vec!["-rw-r--r--", "319 B", "12/01/26 11:26:07 UTC", ""],
    ]);
    assert_eq!(
        out,
        "Mode        Size     Modified Time          Name\n\
             drwxr-xr-x  4.0 KiB  12/01/26 11:25:57 UTC  alloc/\n\
             -rw-r--r--  319 B    12/01/26 11:26:07 UTC\n"
    );
    assert_eq!(table::<&str>(&[]), "");
}

#[test]
fn key_values_align_on_the_equals_sign() {
    let out = key_values(&[("ID", "abc"), ("Client Status", "running"), ("Empty", "")]);
    assert_eq!(
        out,
        "ID            = abc\nClient Status = running\nEmpty         =\n"
    );
}

#[test]
fn sizes_as_go_humanize() {
    for (n, text) in [
        (0, "0 B"),
        (9, "9 B"),
        (319, "319 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (4096, "4.0 KiB"),
        (10 * 1024, "10 KiB"),
        (1536 * 1024, "1.5 MiB"),
        (25_276_502_016, "24 GiB"),
    ] {
        assert_eq!(bytes(n), text, "{n}");
    }
    assert_eq!(size(4096, true), "4096");
    assert_eq!(size(4096, false), "4.0 KiB");
}

#[test]
fn times_as_nomads_cli() {
    assert_eq!(
        time("2026-12-01T11:25:57.761893593Z"),
        "12/01/26 11:25:57 UTC"
    );
    assert_eq!(time("2026-12-01T11:25:57Z"), "12/01/26 11:25:57 UTC");
    assert_eq!(
        time("2026-12-01T12:25:57.5+01:00"),
        "12/01/26 12:25:57 +01:00"
    );
    assert_eq!(time("yesterday"), "yesterday");
}

#[test]
fn durations_as_go() {
    assert_eq!(duration(4557), "1h15m57s");
    assert_eq!(duration(180), "3m0s");
    assert_eq!(duration(42), "42s");
}

#[test]
fn ids_cells_and_json() {
    assert_eq!(
        short("47899f44-61ab-4647-9b22-3e092c2bbc1d", false),
        "47899f44"
    );
    assert_eq!(short("47899f44-61ab", true), "47899f44-61ab");
    assert_eq!(cell(&Value::Null), "<none>");
    assert_eq!(cell(&serde_json::json!("")), "<none>");
    assert_eq!(cell(&serde_json::json!(false)), "false");
    assert_eq!(
        json(&serde_json::json!({"A": [1]})),
        "{\n    \"A\": [\n        1\n    ]\n}\n"
    );
}
