//! Reading and writing JSON Lines files, with errors that name the file and line.
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;

pub type Row = Map<String, Value>;

/// A row and the line it came from (1-based).
pub type NumberedRow = (usize, Row);

/// Reads every non-empty line of a JSON Lines file as a JSON object.
pub fn read_objects(path: &Path) -> Result<Vec<NumberedRow>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    parse_objects(BufReader::new(file), path)
}

/// Every non-empty line of JSON Lines text as a JSON object; `path` names the source in
/// errors. (Fuzzing and tests give it bytes.)
pub fn parse_objects(reader: impl BufRead, path: &Path) -> Result<Vec<NumberedRow>> {
    let mut rows = Vec::new();
    visit_objects(reader, path, |line, row| {
        rows.push((line, row));
        Ok(())
    })?;
    Ok(rows)
}

/// Hands each non-empty line's object to `visit` with its line number, one at a time, so a
/// file larger than memory can be read.
pub fn visit_objects(
    reader: impl BufRead,
    path: &Path,
    mut visit: impl FnMut(usize, Row) -> Result<()>,
) -> Result<()> {
    for (index, line) in reader.split(b'\n').enumerate() {
        let line_no = index + 1;
        let bytes = line.map_err(|e| Error::io(path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            Error::line(
                path,
                line_no,
                format!("not valid UTF-8 (byte {})", e.valid_up_to()),
            )
        })?;
        // A byte-order mark (as some Windows editors write) and CRLF line ends are accepted.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => visit(line_no, map)?,
            Ok(_) => return Err(Error::line(path, line_no, "expected a JSON object")),
            Err(e) => return Err(Error::line(path, line_no, format!("malformed JSON: {e}"))),
        }
    }
    Ok(())
}

/// A string field of a row; errors name the file, line and field.
pub fn string_field<'a>(row: &'a Row, field: &str, path: &Path, line: usize) -> Result<&'a str> {
    match row.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::line(
            path,
            line,
            format!("field '{field}' is not a string"),
        )),
        None => Err(Error::line(path, line, format!("missing field '{field}'"))),
    }
}
