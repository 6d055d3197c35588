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
    /// An empty array; `pretty` indents as `to_vec` does.
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
mod tests;
