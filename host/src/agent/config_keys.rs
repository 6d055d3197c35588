//! What the keys of a config file mean before it is deserialized: a key caravan implements
//! is kept, a key Nomad knows but caravan does not implement is dropped with one warning
//! (so an existing Nomad client config still loads), and anything else is an error that
//! names the file, the line (HCL) and the key. Wrong types are errors that name them too.
//! Every error of a file is reported, not only the first (`caravan config validate`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Body, Structure};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config_schema::{Kind, Section, TOP};

/// Everything wrong with a configuration, one message a line (file and line first).
#[derive(Debug)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => f.write_str(one),
            all => {
                write!(f, "{} errors in the configuration:", all.len())?;
                all.iter().try_for_each(|error| write!(f, "\n  {error}"))
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// How many type errors one file may report: each found one is removed and the rest
/// deserialized again.
const MAX_TYPE_ERRORS: usize = 64;

/// A config file's settings, and what in it was ignored.
#[derive(Debug)]
pub struct Parsed<T> {
    pub config: T,
    /// One line per key Nomad knows that caravan does not implement.
    pub warnings: Vec<String>,
    /// The line of each key path (HCL only), for errors found later.
    pub lines: HashMap<String, usize>,
}

/// Parse `text` (HCL, or JSON if `json`) read from `file` into the configuration `T`
/// (generic so this module stays below the configuration it checks). Its errors are one
/// [`Invalid`] listing all of them, in the file's order.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str, json: bool) -> Result<Parsed<T>> {
    let name = file.display();
    let (value, lines) = if json {
        let value: Value =
            serde_json::from_str(text).map_err(|e| anyhow!("config file {name}: {e}"))?;
        (value, HashMap::new())
    } else {
        let body: Body =
            hcl_edit::parser::parse_body(text).map_err(|e| anyhow!("config file {name}: {e}"))?;
        let mut lines = HashMap::new();
        body_lines(&body, "", text, &mut lines);
        let value: Value = hcl::from_body(hcl::Body::from(body))
            .map_err(|e| anyhow!("config file {name}: {e}"))?;
        (value, lines)
    };
    let at = |path: &str| match lines.get(path) {
        Some(line) => format!("config file {name}, line {line}"),
        None => format!("config file {name}"),
    };
    let mut value = value;
    let (mut ignored, mut unknown) = (Vec::new(), Vec::new());
    classify(&mut value, &TOP, "", &mut ignored, &mut unknown);
    // (line, message): sorted by line at the end, so errors read in the file's order.
    let mut errors: Vec<(usize, String)> = unknown
        .iter()
        .map(|path| {
            let message = format!(
                "{}: unknown key {path:?}: Nomad's agent configuration has no such setting",
                at(path)
            );
            (lines.get(path).copied().unwrap_or(usize::MAX), message)
        })
        .collect();
    // A wrong type stops deserialization: note it, remove the value, and go on.
    let mut config = None;
    for _ in 0..MAX_TYPE_ERRORS {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => {
                config = Some(parsed);
                break;
            }
            Err(e) => {
                let path = e.path().to_string();
                let line = lines.get(&path).copied().unwrap_or(usize::MAX);
                errors.push((line, format!("{}: {path}: {}", at(&path), e.inner())));
                if !remove(&mut value, e.path()) {
                    break;
                }
            }
        }
    }
    errors.sort_by_key(|(line, _)| *line);
    let config = match config {
        Some(config) if errors.is_empty() => config,
        _ => return Err(Invalid(errors.into_iter().map(|(_, m)| m).collect()).into()),
    };
    let warnings = ignored
        .into_iter()
        .map(|path| {
            format!(
                "{}: ignoring {path:?}: a Nomad setting caravan does not implement",
                at(&path)
            )
        })
        .collect();
    Ok(Parsed {
        config,
        warnings,
        lines,
    })
}

/// Check `value`'s keys against `section`, removing every key that is not caravan's: the
/// Nomad-only ones' paths go to `ignored`, the others' to `unknown`.
fn classify(
    value: &mut Value,
    section: &Section,
    prefix: &str,
    ignored: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    let object = match value {
        Value::Object(object) => object,
        // Repeated blocks; the type check of deserialization has the last word.
        Value::Array(items) => {
            for item in items {
                classify(item, section, prefix, ignored, unknown);
            }
            return;
        }
        _ => return,
    };
    let mut drop = Vec::new();
    for (key, inner) in object.iter_mut() {
        let path = join(prefix, key);
        match section.keys.iter().find(|(k, _)| k == key) {
            Some((_, Kind::Section(sub))) => classify(inner, sub, &path, ignored, unknown),
            Some((_, Kind::Value | Kind::Map)) => {}
            None if section.nomad_only.contains(&key.as_str()) => {
                ignored.push(path);
                drop.push(key.clone());
            }
            None => {
                unknown.push(path);
                drop.push(key.clone());
            }
        }
    }
    for key in drop {
        object.remove(&key);
    }
}

/// Remove the value at `path` (where deserialization failed); `false` if there is none.
fn remove(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut at = value;
    for segment in parents {
        let next = match (segment, at) {
            (Segment::Map { key }, Value::Object(map)) => map.get_mut(key),
            (Segment::Seq { index }, Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        at = next;
    }
    match (last, at) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The line of every key path of an HCL body (the first, when repeated).
fn body_lines(body: &Body, prefix: &str, text: &str, lines: &mut HashMap<String, usize>) {
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let path = join(prefix, attr.key.as_str());
                record(lines, &path, attr.span(), text);
                if let Expression::Object(object) = &attr.value {
                    object_lines(object, &path, text, lines);
                }
            }
            Structure::Block(block) => {
                let mut path = join(prefix, block.ident.as_str());
                record(lines, &path, block.span(), text);
                for label in &block.labels {
                    path = join(&path, label.as_str());
                    record(lines, &path, block.span(), text);
                }
                body_lines(&block.body, &path, text, lines);
            }
        }
    }
}

fn object_lines(
    object: &hcl_edit::expr::Object,
    prefix: &str,
    text: &str,
    lines: &mut HashMap<String, usize>,
) {
    for (key, value) in object.iter() {
        let name = match key {
            ObjectKey::Ident(ident) => ident.as_str(),
            ObjectKey::Expression(expr) => match expr.as_str() {
                Some(name) => name,
                None => continue,
            },
        };
        let path = join(prefix, name);
        record(lines, &path, key.span(), text);
        if let Expression::Object(inner) = value.expr() {
            object_lines(inner, &path, text, lines);
        }
    }
}

fn record(
    lines: &mut HashMap<String, usize>,
    path: &str,
    span: Option<std::ops::Range<usize>>,
    text: &str,
) {
    if let Some(span) = span {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        lines.entry(path.to_string()).or_insert(line);
    }
}

#[cfg(test)]
mod tests;
