//! How the commands print: tables and `Key = Value` lists laid out as Nomad's CLI lays them
//! out (columns two spaces apart, no trailing blanks), sizes as `4.0 KiB`, times as
//! `12/01/26 11:25:57 UTC`, and JSON for scripts (indented by four, as Nomad's `-json`).

use std::io::Write;

use serde_json::Value;

/// Rows of cells as columns two spaces apart; the first row is the header.
pub fn table<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = cell.as_ref();
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `Key = Value` lines with the `=` aligned, as Nomad's `formatKV`.
pub fn key_values<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.as_ref().chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let line = format!("{:width$} = {}", key.as_ref(), value.as_ref());
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bytes as go-humanize's `IBytes`: `319 B`, `4.0 KiB`, `12 MiB`.
pub fn bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 10 {
        return format!("{size} B");
    }
    let exponent = ((size as f64).ln() / 1024f64.ln()).floor() as usize;
    let exponent = exponent.min(UNITS.len() - 1);
    let value = (size as f64 / 1024f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exponent])
    } else {
        format!("{value:.0} {}", UNITS[exponent])
    }
}

/// A size as the user asked for it: humanized, or plain bytes with `-H`.
pub fn size(size: u64, machine: bool) -> String {
    if machine {
        size.to_string()
    } else {
        bytes(size)
    }
}

/// An RFC 3339 time as Nomad's CLI prints it (`01/02/06 15:04:05 MST`); UTC times end in
/// `UTC`, others keep their offset. Anything else is returned unchanged.
pub fn time(rfc3339: &str) -> String {
    let parse = || -> Option<String> {
        let (date, rest) = rfc3339.split_once('T')?;
        let mut parts = date.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let clock = rest.get(..8)?;
        let after = &rest[8..];
        let zone_at = after.find(['Z', 'z', '+', '-'])?;
        let zone = match &after[zone_at..] {
            "Z" | "z" => "UTC".to_string(),
            offset => offset.to_string(),
        };
        Some(format!("{month}/{day}/{} {clock} {zone}", &year[2..]))
    };
    parse().unwrap_or_else(|| rfc3339.to_string())
}

/// Seconds as Go prints a `time.Duration`: `1h15m57s`, `3m0s`, `42s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The first eight characters of an id, as Nomad shows ids without `-verbose`.
pub fn short(id: &str, verbose: bool) -> String {
    if verbose {
        id.to_string()
    } else {
        id.chars().take(8).collect()
    }
}

/// A JSON value's text for a table cell: strings bare, `null` as `<none>`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "<none>".into(),
        Value::String(s) if s.is_empty() => "<none>".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as pretty JSON with four-space indents and a final newline.
pub fn json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).expect("a JSON value serializes");
    out.push(b'\n');
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Write `bytes` to stdout and flush at once, so a follower sees them without delay. A
/// closed pipe (`| head`) is not an error: it ends the output, `Ok(false)`.
pub fn emit(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<bool> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(err),
    }
}

/// Print `text` to stdout (a closed pipe is not an error).
pub fn print(text: &str) -> anyhow::Result<()> {
    emit(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests;
