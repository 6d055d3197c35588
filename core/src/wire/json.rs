//! Nomad's JSON encoding, byte for byte.
//!
//! Nomad's HTTP agent encodes responses with go-msgpack's `JsonHandle` (HTML characters
//! left as is, four-space indent when `?pretty` is set), not with `encoding/json`, and
//! neither matches `serde_json`'s writers: floats always carry a fraction or a Go-style
//! exponent, U+2028/U+2029 are escaped, and a pretty document ends with a newline.
//! Clients diff these bodies, so we reproduce them exactly here.

use serde_json::{Map, Number, Value};

/// Encodes `value` the way Nomad's HTTP agent does, compact or pretty (`?pretty`).
pub fn to_vec(value: &Value, pretty: bool) -> Vec<u8> {
    document(pretty, |out, indent| write_value(out, value, indent))
}

/// A whole document: compact, or pretty (indented from level 0 and ending in a newline).
fn document(pretty: bool, write: impl FnOnce(&mut String, Option<usize>)) -> Vec<u8> {
    let mut out = String::new();
    write(&mut out, pretty.then_some(0));
    if pretty {
        out.push('\n');
    }
    out.into_bytes()
}

/// Formats a float with Go's (go-msgpack JSON) rules: `1.0`, `0.5`, `1e-07`, `1.5e+21`.
pub fn format_float(x: f64) -> String {
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        return go_exponent_form(x);
    }
    // Rust's Display is the shortest round-trip digit string and never uses an exponent,
    // which is exactly Go's 'f' format with precision -1.
    let mut s = format!("{x}");
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// Go's 'e' format: shortest digits, exponent signed and at least two digits wide.
fn go_exponent_form(x: f64) -> String {
    let s = format!("{x:e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let pad = if digits.len() < 2 { "0" } else { "" };
    format!("{mantissa}e{sign}{pad}{digits}")
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => write_array(out, items, indent),
        Value::Object(map) => write_object(out, map, indent),
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&format_float(f));
    } else {
        // Unreachable without serde_json's arbitrary_precision; keep its own rendering.
        out.push_str(&n.to_string());
    }
}

fn write_array(out: &mut String, items: &[Value], indent: Option<usize>) {
    if items.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push('[');
    let inner = indent.map(|level| level + 1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, inner);
        write_value(out, item, inner);
    }
    newline(out, indent);
    out.push(']');
}

fn write_object(out: &mut String, map: &Map<String, Value>, indent: Option<usize>) {
    // serde_json without preserve_order keeps a BTreeMap, so iteration is already the
    // byte-wise key order go-msgpack produces for Go maps and sorted struct output.
    write_members(
        out,
        map.iter().map(|(k, v)| (k.as_str(), v)),
        indent,
        write_value,
    );
}

/// An object from members in key order, each value written by `write`.
fn write_members<'a, V>(
    out: &mut String,
    members: impl Iterator<Item = (&'a str, V)>,
    indent: Option<usize>,
    write: impl Fn(&mut String, V, Option<usize>),
) {
    let mut members = members.peekable();
    if members.peek().is_none() {
        out.push_str("{}");
        return;
    }
    out.push('{');
    let inner = indent.map(|level| level + 1);
    for (i, (key, item)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, inner);
        write_string(out, key);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write(out, item, inner);
    }
    newline(out, indent);
    out.push('}');
}

/// One member of a [`string_maps_to_vec`] document: its name and its entries in key order,
/// `None` written as `null`.
pub type StringMap<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>);

/// Encodes an object of string maps (members in key order) exactly as [`to_vec`] encodes
/// the same document built as a `Value`, without building it: the metadata routes answer
/// from borrowed maps instead of copying every key and value into a `Value` and freeing
/// them again (docs/performance.md).
pub fn string_maps_to_vec(members: &[StringMap<'_>], pretty: bool) -> Vec<u8> {
    debug_assert!(members.windows(2).all(|pair| pair[0].0 < pair[1].0));
    let write_map = |out: &mut String, entries: &Vec<(&str, Option<&str>)>, indent| {
        write_members(
            out,
            entries.iter().copied(),
            indent,
            |out, value, _| match value {
                Some(value) => write_string(out, value),
                None => out.push_str("null"),
            },
        );
    };
    document(pretty, |out, indent| {
        write_members(
            out,
            members.iter().map(|(name, entries)| (*name, entries)),
            indent,
            write_map,
        );
    })
}

/// A top-level array written a part at a time, byte for byte as [`to_vec`] writes the whole
/// array: for answers whose size grows with the input (a directory of a million entries),
/// which the core must not build in its memory at once.
#[derive(Debug, Default)]
pub struct ArrayWriter {
    pretty: bool,
    items: usize,
}

impl ArrayWriter {
    pub fn new(pretty: bool) -> Self {
        Self { pretty, items: 0 }
    }

    /// Append the next element (the opening bracket before the first).
    pub fn item(&mut self, out: &mut String, value: &Value) {
        out.push(if self.items == 0 { '[' } else { ',' });
        self.items += 1;
        let inner = self.pretty.then_some(1);
        newline(out, inner);
        write_value(out, value, inner);
    }

    /// Close the array (a document's trailing newline included).
    pub fn finish(self, out: &mut String) {
        if self.items == 0 {
            out.push('[');
        } else {
            newline(out, self.pretty.then_some(0));
        }
        out.push(']');
        if self.pretty {
            out.push('\n');
        }
    }
}

fn newline(out: &mut String, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str("    ");
        }
    }
}

/// Appends `s` as a JSON string literal with Nomad's escaping rules.
///
/// Runs of bytes that need no escape are copied as one slice: strings are mostly plain
/// ASCII, and copying them a `char` at a time was the core's hottest loop in wasm.
pub fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let escape = ESCAPE[usize::from(bytes[i])];
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; any other E2 sequence is plain.
        let line_separator = escape == LINE_SEPARATOR
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
        if escape == PLAIN || (escape == LINE_SEPARATOR && !line_separator) {
            i += 1;
            continue;
        }
        // `i` is at an ASCII byte or the lead byte of U+2028/9: a char boundary.
        out.push_str(&s[plain_from..i]);
        if line_separator {
            out.push_str(if bytes[i + 2] == 0xA8 {
                "\\u2028"
            } else {
                "\\u2029"
            });
            i += 3;
        } else if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(bytes[i] >> 4)]));
            out.push(char::from(HEX[usize::from(bytes[i] & 0xf)]));
            i += 1;
        } else {
            out.push('\\');
            out.push(char::from(escape));
            i += 1;
        }
        plain_from = i;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// A byte written as it is.
const PLAIN: u8 = 0;
/// A byte that may start U+2028 or U+2029 (both escaped, as Go does).
const LINE_SEPARATOR: u8 = 0xE2;

/// For each byte: [`PLAIN`], [`LINE_SEPARATOR`], or the character that follows the backslash
/// of its escape (`u` for `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[0xE2] = LINE_SEPARATOR;
    table
};

/// A member of a JSON object as Go's `encoding/json` finds a struct field: an exact name
/// match first, then a case-insensitive one. The one field lookup of the crate.
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// The name Go's `encoding/json` gives a JSON value's type in its unmarshal errors.
pub fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
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
}
