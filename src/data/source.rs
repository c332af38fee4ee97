//! Reading table rows from data files.
use crate::error::{Error, Result};
use crate::jsonl::{read_objects, NumberedRow};
use std::path::Path;

/// Rows of a data file: `.jsonl` (one object a line) or `.json` (an array of objects).
/// Each row comes with its line number (JSON Lines) or element number (JSON arrays, 1-based).
pub fn read_rows(path: &Path) -> Result<Vec<NumberedRow>> {
    if !path.exists() {
        return Err(Error::file(path, "no such data file"));
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match extension.as_str() {
        "jsonl" | "ndjson" => read_objects(path),
        "json" => read_json_array(path),
        other => Err(Error::file(
            path,
            format!("unsupported data format '.{other}' (use .jsonl or .json)"),
        )),
    }
}

fn read_json_array(path: &Path) -> Result<Vec<NumberedRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::line(path, e.line(), format!("malformed JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(Error::file(path, "expected a JSON array of objects"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::Object(map) => Ok((i + 1, map)),
            _ => Err(Error::file(path, format!("element {i} is not an object"))),
        })
        .collect()
}
