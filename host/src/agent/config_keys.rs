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
use serde_json::Value;

use super::config::FileConfig;
use super::config_schema::{Kind, Section, TOP};

/// A config file's settings, and what in it was ignored.
#[derive(Debug)]
pub struct Parsed {
    pub config: FileConfig,
    /// One line per key Nomad knows that caravan does not implement.
    pub warnings: Vec<String>,
}

/// Parse `text` (HCL, or JSON if `json`) read from `file`.
pub fn parse(file: &Path, text: &str, json: bool) -> Result<Parsed> {
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
    let config: FileConfig = serde_path_to_error::deserialize(value).map_err(|e| {
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
mod tests {
    use super::*;

    fn hcl(text: &str) -> Result<Parsed> {
        parse(Path::new("agent.hcl"), text, false)
    }

    #[test]
    fn a_misspelt_key_is_refused_with_file_line_and_key() {
        for (text, key, line) in [
            ("tsl {\n http = true\n}", "\"tsl\"", 1),
            (
                "data_dir = \"/x\"\nclient {\n enabeld = true\n}",
                "\"client.enabeld\"",
                3,
            ),
            ("acl {\n enabeld = true\n}", "\"acl.enabeld\"", 2),
            ("client {\n servrs = [\"a:1\"]\n}", "\"client.servrs\"", 2),
            ("data_dri = \"/tmp\"", "\"data_dri\"", 1),
            ("ports {\n htp = 1\n}", "\"ports.htp\"", 2),
            (
                "tls {\n http = true\n verify_https_clients = true\n}",
                "\"tls.verify_https_clients\"",
                3,
            ),
            ("client = {\n enabeld = true\n}", "\"client.enabeld\"", 2),
        ] {
            let err = hcl(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?}: {err}");
            assert!(
                err.contains(&format!("agent.hcl, line {line}:")),
                "{text:?}: {err}"
            );
        }
        let json = parse(Path::new("a.json"), r#"{"acl": {"enabeld": true}}"#, true);
        let err = json.unwrap_err().to_string();
        assert!(
            err.contains("a.json") && err.contains("\"acl.enabeld\""),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_is_refused_and_named() {
        let err = hcl("x = 1\nclient {\n enabled = \"yes\"\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"x\""), "{err}");
        let err = hcl("\nclient {\n enabled = \"yes\"\n}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("client.enabled"),
            "{err}"
        );
        let err = hcl("tls {\n http = \"on\"\n}").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("tls.http"), "{err}");
        let err = hcl("ports {\n http = \"x\"\n}").unwrap_err().to_string();
        assert!(err.contains("ports.http"), "{err}");
    }

    #[test]
    fn nomad_settings_caravan_ignores_load_with_one_warning_each() {
        let parsed = hcl(
            "region = \"x\"\nplugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n\
             plugin \"docker\" {\n config {\n  volumes { enabled = true }\n }\n}\n\
             telemetry {\n prometheus_metrics = true\n}\nconsul {\n address = \"a:8500\"\n}\n\
             vault {\n enabled = false\n}\nclient {\n enabled = true\n options = {\n \"driver.allowlist\" = \"exec\"\n }\n\
             host_volume \"data\" {\n path = \"/srv\"\n }\n}\nlog_file = \"/var/log/nomad\"\n\
             tls {\n http = false\n rpc = true\n}\n",
        )
        .unwrap();
        assert_eq!(parsed.config.client.enabled, Some(true));
        let expected = [
            ("region", 1),
            ("plugin", 2),
            ("telemetry", 12),
            ("consul", 15),
            ("vault", 18),
            ("client.options", 23),
            ("client.host_volume", 26),
            ("log_file", 30),
            ("tls.rpc", 33),
        ];
        assert_eq!(
            parsed.warnings.len(),
            expected.len(),
            "{:#?}",
            parsed.warnings
        );
        for (key, line) in expected {
            assert!(
                parsed
                    .warnings
                    .iter()
                    .any(|w| w.contains(&format!("line {line}: ignoring \"{key}\""))),
                "{key} at {line}: {:#?}",
                parsed.warnings
            );
        }
        let json = parse(
            Path::new("a.json"),
            r#"{"region": "x", "client": {"enabled": true, "node_class": "c"}}"#,
            true,
        )
        .unwrap();
        assert_eq!(json.warnings.len(), 2, "{:?}", json.warnings);
    }
}
