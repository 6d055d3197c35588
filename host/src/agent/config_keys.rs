//! What the keys of a config file mean before it is deserialized: a key caravan implements
//! is kept, a key Nomad knows but caravan does not implement is dropped with one warning
//! (so an existing Nomad client config still loads), and anything else is an error that
//! names the file, the line (HCL) and the key. Wrong types are errors that name them too.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow};
use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Body, Structure};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config_schema::{Kind, Section, TOP};

/// A config file's settings, and what in it was ignored.
#[derive(Debug)]
pub struct Parsed<T> {
    pub config: T,
    /// One line per key Nomad knows that caravan does not implement.
    pub warnings: Vec<String>,
}

/// Parse `text` (HCL, or JSON if `json`) read from `file` into the configuration `T`
/// (generic so this module stays below the configuration it checks).
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
    let mut ignored = Vec::new();
    classify(&mut value, &TOP, "", &mut ignored).map_err(|path| {
        anyhow!(
            "{}: unknown key {path:?}: Nomad's agent configuration has no such setting",
            at(&path)
        )
    })?;
    let config: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        anyhow!("{}: {path}: {}", at(&path), e.inner())
    })?;
    let warnings = ignored
        .into_iter()
        .map(|path| {
            format!(
                "{}: ignoring {path:?}: a Nomad setting caravan does not implement",
                at(&path)
            )
        })
        .collect();
    Ok(Parsed { config, warnings })
}

/// Check `value`'s keys against `section`: remove the Nomad-only ones (their paths go to
/// `ignored`); an unknown key is `Err(its path)`.
fn classify(
    value: &mut Value,
    section: &Section,
    prefix: &str,
    ignored: &mut Vec<String>,
) -> Result<(), String> {
    let object = match value {
        Value::Object(object) => object,
        // Repeated blocks; the type check of deserialization has the last word.
        Value::Array(items) => {
            for item in items {
                classify(item, section, prefix, ignored)?;
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let mut drop = Vec::new();
    for (key, inner) in object.iter_mut() {
        let path = join(prefix, key);
        match section.keys.iter().find(|(k, _)| k == key) {
            Some((_, Kind::Section(sub))) => classify(inner, sub, &path, ignored)?,
            Some((_, Kind::Value | Kind::Map)) => {}
            None if section.nomad_only.contains(&key.as_str()) => {
                ignored.push(path);
                drop.push(key.clone());
            }
            None => return Err(path),
        }
    }
    for key in drop {
        object.remove(&key);
    }
    Ok(())
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
#[path = "config_keys_tests.rs"]
mod tests;
