use super::*;
use serde_json::json;

/// The escaping rules one `char` at a time, as they read in the spec.
fn write_string_by_char(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn write_string_escapes_exactly_as_the_rules_say() {
    let mut samples: Vec<String> = (0u32..0x300)
        .chain(0x2000..0x2100)
        .filter_map(char::from_u32)
        .map(|c| format!("a{c}b{c}{c}"))
        .collect();
    samples.extend(
        [
            "",
            "plain",
            "\u{2028}",
            "x\u{2029}",
            "\u{20ac}\u{2027}\u{e2}",
            "\"\\\n\u{1}\u{1f}\u{7f}",
        ]
        .map(String::from),
    );
    for sample in samples {
        let mut fast = String::new();
        write_string(&mut fast, &sample);
        assert_eq!(fast, write_string_by_char(&sample), "{sample:?}");
    }
}

fn compact(v: &Value) -> String {
    String::from_utf8(to_vec(v, false)).unwrap()
}

fn pretty(v: &Value) -> String {
    String::from_utf8(to_vec(v, true)).unwrap()
}

fn float(x: f64) -> Value {
    Value::Number(Number::from_f64(x).unwrap())
}

#[test]
fn string_maps_encode_exactly_as_the_same_value() {
    let members = [
        ("Dynamic", vec![]),
        ("Meta", vec![("a\u{2028}\"<", Some("x\ny")), ("b", None)]),
        ("Static", vec![("k", Some("v")), ("z", Some(""))]),
    ];
    let value = json!({
        "Dynamic": {},
        "Meta": { "a\u{2028}\"<": "x\ny", "b": null },
        "Static": { "k": "v", "z": "" },
    });
    for pretty in [false, true] {
        assert_eq!(
            String::from_utf8(string_maps_to_vec(&members, pretty)).unwrap(),
            String::from_utf8(to_vec(&value, pretty)).unwrap()
        );
    }
    assert_eq!(string_maps_to_vec(&[], false), b"{}");
}

#[test]
fn compact_object_sorted_without_spaces_or_newline() {
    let v = json!({"b": [1, 2], "a": 1, "B": null, "_": true});
    assert_eq!(compact(&v), r#"{"B":null,"_":true,"a":1,"b":[1,2]}"#);
}

#[test]
fn compact_scalars() {
    assert_eq!(compact(&json!(null)), "null");
    assert_eq!(compact(&json!(true)), "true");
    assert_eq!(compact(&json!(false)), "false");
    assert_eq!(compact(&json!(0)), "0");
    assert_eq!(compact(&json!(-42)), "-42");
    assert_eq!(compact(&json!(i64::MIN)), "-9223372036854775808");
    assert_eq!(compact(&json!(u64::MAX)), "18446744073709551615");
    assert_eq!(compact(&json!("x")), r#""x""#);
}

#[test]
fn compact_empty_containers() {
    assert_eq!(compact(&json!({})), "{}");
    assert_eq!(compact(&json!([])), "[]");
    assert_eq!(compact(&json!({"a": {}, "b": []})), r#"{"a":{},"b":[]}"#);
}

#[test]
fn pretty_nested_layout() {
    let v = json!({"b": [1, 2], "a": 1, "c": {"d": "e"}});
    let want = "{\n    \"a\": 1,\n    \"b\": [\n        1,\n        2\n    ],\n    \"c\": {\n        \"d\": \"e\"\n    }\n}\n";
    assert_eq!(pretty(&v), want);
}

#[test]
fn pretty_empty_containers_stay_inline() {
    assert_eq!(pretty(&json!({})), "{}\n");
    assert_eq!(pretty(&json!([])), "[]\n");
    let v = json!({"a": {}, "b": []});
    assert_eq!(pretty(&v), "{\n    \"a\": {},\n    \"b\": []\n}\n");
}

#[test]
fn pretty_scalar_and_array_of_objects() {
    assert_eq!(pretty(&json!(5)), "5\n");
    assert_eq!(pretty(&json!("s")), "\"s\"\n");
    let v = json!([{"a": 1}, []]);
    assert_eq!(
        pretty(&v),
        "[\n    {\n        \"a\": 1\n    },\n    []\n]\n"
    );
}

#[test]
fn string_escapes() {
    let v = json!("q\" b\\ n\n r\r t\t b\u{8} f\u{c} nul\u{0} us\u{1f} esc\u{1b} v\u{b}");
    assert_eq!(
        compact(&v),
        r#""q\" b\\ n\n r\r t\t b\b f\f nul\u0000 us\u001f esc\u001b v\u000b""#
    );
}

#[test]
fn string_html_and_del_kept() {
    let v = json!("<a href='x'>&amp;</a>\u{7f}/");
    assert_eq!(compact(&v), "\"<a href='x'>&amp;</a>\u{7f}/\"");
}

#[test]
fn string_line_separators_escaped() {
    let v = json!("a\u{2028}b\u{2029}c\u{2027}");
    assert_eq!(compact(&v), "\"a\\u2028b\\u2029c\u{2027}\"");
}

#[test]
fn string_unicode_kept() {
    assert_eq!(compact(&json!("héllo ☃ 𝄞")), "\"héllo ☃ 𝄞\"");
}

#[test]
fn keys_are_escaped_and_byte_sorted() {
    let v = json!({"é": 1, "z": 2, "a\"b": 3});
    assert_eq!(compact(&v), r#"{"a\"b":3,"z":2,"é":1}"#);
}

#[test]
fn floats_integral_get_fraction() {
    assert_eq!(format_float(0.0), "0.0");
    assert_eq!(format_float(-0.0), "-0.0");
    assert_eq!(format_float(1.0), "1.0");
    assert_eq!(format_float(100.0), "100.0");
    assert_eq!(format_float(-3.0), "-3.0");
    assert_eq!(format_float(1e20), "100000000000000000000.0");
}

#[test]
fn floats_plain_fraction() {
    assert_eq!(format_float(0.5), "0.5");
    assert_eq!(format_float(12.345), "12.345");
    assert_eq!(format_float(0.000123), "0.000123");
    assert_eq!(format_float(0.1), "0.1");
    assert_eq!(format_float(-2.25), "-2.25");
    assert_eq!(format_float(1e-6), "0.000001");
    assert_eq!(format_float(123456789.125), "123456789.125");
}

#[test]
fn floats_exponent_form() {
    assert_eq!(format_float(1e-7), "1e-07");
    assert_eq!(format_float(2.5e-8), "2.5e-08");
    assert_eq!(format_float(-2.5e-8), "-2.5e-08");
    assert_eq!(format_float(1e21), "1e+21");
    assert_eq!(format_float(1.5e21), "1.5e+21");
    assert_eq!(format_float(1e100), "1e+100");
    assert_eq!(
        format_float(1.7976931348623157e308),
        "1.7976931348623157e+308"
    );
    assert_eq!(format_float(5e-324), "5e-324");
    assert_eq!(format_float(9.99e-7), "9.99e-07");
}

#[test]
fn floats_inside_documents() {
    let v = json!({"f": float(1.0), "g": float(0.25), "h": float(1e-9)});
    assert_eq!(compact(&v), r#"{"f":1.0,"g":0.25,"h":1e-09}"#);
}

#[test]
fn deep_nesting_pretty() {
    let v = json!({"a": [[{"b": [true]}]]});
    let want = "{\n    \"a\": [\n        [\n            {\n                \"b\": [\n                    true\n                ]\n            }\n        ]\n    ]\n}\n";
    assert_eq!(pretty(&v), want);
}

#[test]
fn array_writer_writes_what_to_vec_writes() {
    let items = [json!({"a": 1, "b": [true]}), json!("x"), json!({})];
    for n in 0..=items.len() {
        for pretty in [false, true] {
            let mut writer = ArrayWriter::new(pretty);
            let mut out = String::new();
            for item in &items[..n] {
                writer.item(&mut out, item);
            }
            writer.finish(&mut out);
            let whole = to_vec(&Value::Array(items[..n].to_vec()), pretty);
            assert_eq!(out.as_bytes(), whole, "{n} items, pretty {pretty}");
        }
    }
}
