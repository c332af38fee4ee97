//! Recipes: one TOML file that describes a whole job (model, data, LoRA, training, evaluation).
//! Every key can be overridden with `--set section.key=value`. Values are checked when the
//! recipe loads: unknown keys (with the nearest valid one suggested), devices, dtypes,
//! precisions, schedules and strategies; an error names the file and line, or the `--set`.
mod decoding;
pub(crate) mod keys;
mod report_to;
mod sections;
mod target_modules;
mod type_errors;
mod validate;

pub use decoding::EarlyStopping;
pub use report_to::{Integration, ReportTo};
pub use sections::{
    DataSection, EvalSection, EvalStrategy, LoraSection, ModelSection, ResumeFrom, Schedule, Task,
    TrainSection,
};
pub(crate) use target_modules::TargetModules;
pub use validate::validation_metrics;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub(crate) model: ModelSection,
    pub(crate) data: DataSection,
    #[serde(default)]
    pub(crate) lora: LoraSection,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub(crate) eval: EvalSection,
}

impl Recipe {
    /// Reads a recipe and applies `section.key=value` overrides. Relative data paths stay
    /// relative to the current directory (as typed on the command line).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path, overrides)
    }

    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| recipe_error(path, text, e))?;
        keys::check_value(&value).map_err(|u| file_error(path, text, &u.path, u.message))?;
        // which key each override set (the last one wins)
        let mut origins: Vec<(Vec<String>, &str)> = Vec::new();
        for item in overrides {
            let key = apply_override(&mut value, item)?;
            origins.push((key, item));
        }
        let given = given_keys(&value, "lora");
        let mut recipe: Recipe = value
            .try_into()
            .map_err(|e| typed_error(path, text, &origins, e))?;
        recipe.lora.given = given;
        recipe
            .check_values()
            .map_err(|m| value_error(path, text, &origins, m))?;
        Ok(recipe)
    }

    /// The recipe as TOML (what a run folder records as `recipe.toml`).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }
}

/// The keys a section of the file (after `--set`) holds.
fn given_keys(root: &toml::Value, section: &str) -> std::collections::BTreeSet<String> {
    root.get(section)
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

fn recipe_error(path: &Path, text: &str, e: toml::de::Error) -> Error {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            Error::line(path, line, e.message().to_string())
        }
        None => Error::file(path, e.message().to_string()),
    }
}

/// An error about a key of the file: with its line when it can be found.
fn file_error(path: &Path, text: &str, key: &[String], message: String) -> Error {
    match keys::line_of(text, key) {
        Some(line) => Error::line(path, line, message),
        None => Error::file(path, message),
    }
}

/// A refused value (the message starts with its key): blamed on the `--set` that gave it, or
/// on the file (and line).
fn value_error(path: &Path, text: &str, origins: &[(Vec<String>, &str)], message: String) -> Error {
    let key: Vec<String> = message
        .split([' ', ':'])
        .next()
        .unwrap_or_default()
        .split('.')
        .map(str::to_string)
        .collect();
    match origins.iter().rev().find(|(k, _)| *k == key) {
        Some((_, item)) => Error::Config(format!("--set {item}: {message}")),
        None => file_error(path, text, &key, message),
    }
}

/// A deserialization error, naming the key, blamed on the `--set` that gave the value or on
/// the file (and line).
fn typed_error(
    path: &Path,
    text: &str,
    origins: &[(Vec<String>, &str)],
    e: toml::de::Error,
) -> Error {
    // toml ends its message with the key path: "…\nin `train.device`"
    let display = e.to_string();
    let key: Vec<String> = display
        .trim_end()
        .rsplit_once("\nin `")
        .and_then(|(_, rest)| rest.strip_suffix('`'))
        .map(|p| p.split('.').map(str::to_string).collect())
        .unwrap_or_default();
    let message = type_errors::plain(e.message());
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let missing = if key.is_empty() {
            format!("missing section `[{field}]`")
        } else {
            format!("missing key `{}.{field}`", key.join("."))
        };
        return Error::file(path, missing);
    }
    let message = if key.is_empty() {
        message
    } else {
        format!("{}: {message}", key.join("."))
    };
    match origins.iter().rev().find(|(k, _)| key.starts_with(k)) {
        Some((_, item)) => Error::Config(format!("--set {item}: {message}")),
        None => file_error(path, text, &key, message),
    }
}

/// `section.key=value`: the value is read as a TOML value when it parses as one (numbers,
/// booleans, arrays, quoted strings), else taken as a plain string. Returns the key path set;
/// an unknown section or key is refused, naming the `--set` and the nearest valid key.
pub(crate) fn apply_override(root: &mut toml::Value, item: &str) -> Result<Vec<String>> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set {item}: expected section.key=value")))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!(
            "--set {item}: expected section.key=value"
        )));
    }
    keys::check_path(&parts).map_err(|u| Error::Config(format!("--set {item}: {}", u.message)))?;
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut table = root
        .as_table_mut()
        .ok_or_else(|| Error::Config("recipe is not a table".into()))?;
    for part in &parts[..parts.len() - 1] {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("--set {item}: '{part}' is not a section")))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(parts.iter().map(|p| p.to_string()).collect())
}

#[cfg(test)]
mod tests;
