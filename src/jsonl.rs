//! Reading and writing JSON Lines files, with errors that name the file and line.
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

pub type Row = Map<String, Value>;

/// A row and the line it came from (1-based).
pub type NumberedRow = (usize, Row);

/// Reads every non-empty line of a JSON Lines file as a JSON object.
pub fn read_objects(path: &Path) -> Result<Vec<NumberedRow>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line_no = index + 1;
        let bytes = line.map_err(|e| Error::io(path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            Error::line(
                path,
                line_no,
                format!("not valid UTF-8 (byte {})", e.valid_up_to()),
            )
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => rows.push((line_no, map)),
            Ok(_) => return Err(Error::line(path, line_no, "expected a JSON object")),
            Err(e) => return Err(Error::line(path, line_no, format!("malformed JSON: {e}"))),
        }
    }
    Ok(rows)
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

/// Writes rows to `path` atomically: a temporary file beside it is renamed into place,
/// so a failure never leaves a half-written output.
pub struct AtomicWriter {
    target: PathBuf,
    temp: PathBuf,
    out: BufWriter<std::fs::File>,
}

impl AtomicWriter {
    pub fn create(target: &Path) -> Result<Self> {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        let temp = target.with_file_name(name);
        let file = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            out: BufWriter::new(file),
        })
    }

    pub fn write_json(&mut self, value: &Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, value)
            .map_err(|e| Error::file(&self.temp, e.to_string()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::io(&self.temp, e))
    }

    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(&self.temp, e))
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.temp, e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes a whole file atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut writer = AtomicWriter::create(path)?;
    writer.write_bytes(bytes)?;
    writer.finish()
}
