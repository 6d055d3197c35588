//! Every config file of an agent, loaded at once with every mistake of every file: what
//! `caravan agent` refuses to start on, and what `caravan config validate` reports (the same
//! function, so the two can never disagree).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;

use super::config::FileConfig;
use super::config_keys::Invalid;

/// The files merged in order (later ones win), and the warnings about ignored Nomad
/// settings; or [`Invalid`] listing every error with its file and line: each file's unknown
/// keys and wrong types, then, if every file is readable, the settings that cannot work
/// (at the line of the last file that sets the key).
pub fn load(paths: &[PathBuf]) -> Result<(FileConfig, Vec<String>)> {
    let mut config = FileConfig::default();
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    let mut lines: Vec<(&PathBuf, HashMap<String, usize>)> = Vec::new();
    for path in paths {
        match FileConfig::load(path) {
            Ok(parsed) => {
                config.merge(parsed.config);
                warnings.extend(parsed.warnings);
                lines.push((path, parsed.lines));
            }
            Err(err) => match err.downcast::<Invalid>() {
                Ok(Invalid(list)) => errors.extend(list),
                Err(other) => errors.push(format!("{other:#}")),
            },
        }
    }
    if errors.is_empty() {
        for (key, message) in config.problems() {
            errors.push(format!("{}: {message}", place(&lines, key, &message)));
        }
    }
    if errors.is_empty() {
        Ok((config, warnings))
    } else {
        Err(Invalid(errors).into())
    }
}

/// Where a problem's key is set: the key its message starts with (`tls.http = true needs
/// …`), else `key`; in the last file that sets it (later files win), else every file.
fn place(lines: &[(&PathBuf, HashMap<String, usize>)], key: &str, message: &str) -> String {
    let named = message
        .split([' ', ':'])
        .next()
        .filter(|word| lines.iter().any(|(_, l)| l.contains_key(*word)));
    let key = named.unwrap_or(key);
    for (path, lines) in lines.iter().rev() {
        if let Some(line) = lines.get(key) {
            return format!("config file {}, line {line}", path.display());
        }
    }
    let files: Vec<String> = lines.iter().map(|(p, _)| p.display().to_string()).collect();
    match files.as_slice() {
        [one] => format!("config file {one}"),
        all => format!("config files {}", all.join(", ")),
    }
}
