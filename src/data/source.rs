//! Reading table rows from data files, whole or one row at a time.
use crate::error::{Error, Result};
use crate::jsonl::{visit_objects, NumberedRow, Row};
use std::io::BufReader;
use std::path::Path;

/// Rows of a data file: `.jsonl` (one object a line), `.json` (an array of objects), `.csv`
/// (a header line, then records; every value a string) or `.parquet`.
/// `hf:OWNER/NAME[:CONFIG]:SPLIT` reads a Hub dataset split (see `hub_dataset`).
/// Each row comes with its line number (JSON Lines) or element number (JSON arrays, 1-based).
pub fn read_rows(path: &Path) -> Result<Vec<NumberedRow>> {
    let mut rows = Vec::new();
    visit_rows(path, &mut |_, line, row| {
        rows.push((line, row));
        Ok(())
    })?;
    Ok(rows)
}

/// Hands each row of a data file (or of every file of a Hub split) to `visit` with the file
/// it came from and its line number, one row at a time: JSON Lines, CSV and parquet are
/// streamed (memory bounded by a row, or a parquet row group), a `.json` array is read whole.
pub fn visit_rows(
    path: &Path,
    visit: &mut dyn FnMut(&Path, usize, Row) -> Result<()>,
) -> Result<()> {
    if let Some(spec) = path
        .to_str()
        .and_then(super::hub_dataset::DatasetSpec::parse)
    {
        for file in super::hub_dataset::resolve(&spec?, None)? {
            visit_rows(&file, visit)?;
        }
        return Ok(());
    }
    if !path.exists() {
        return Err(Error::file(path, "no such data file"));
    }
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    let mut visit_here = |line, row| visit(path, line, row);
    match Format::of(path)? {
        Format::JsonLines => visit_objects(BufReader::new(open()?), path, visit_here),
        Format::JsonArray => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            for (line, row) in json_array_rows(&text, path)? {
                visit_here(line, row)?;
            }
            Ok(())
        }
        Format::Csv => csv_rows(open()?, path, &mut visit_here),
        Format::Parquet => parquet_rows(open()?, path, &mut visit_here),
    }
}

/// Rows of a data file's contents, read as [`read_rows`] reads the file at `path` (whose
/// extension picks the format and which errors name). For fuzzing and tests.
pub fn parse_rows(bytes: &[u8], path: &Path) -> Result<Vec<NumberedRow>> {
    let mut rows = Vec::new();
    let mut keep = |line, row| {
        rows.push((line, row));
        Ok(())
    };
    match Format::of(path)? {
        Format::JsonLines => visit_objects(bytes, path, keep)?,
        Format::JsonArray => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                Error::file(path, format!("not valid UTF-8 (byte {})", e.valid_up_to()))
            })?;
            return json_array_rows(text, path);
        }
        Format::Csv => csv_rows(bytes, path, &mut keep)?,
        Format::Parquet => parquet_rows(bytes::Bytes::copy_from_slice(bytes), path, &mut keep)?,
    }
    Ok(rows)
}

/// The data formats, by file extension.
enum Format {
    JsonLines,
    JsonArray,
    Csv,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            "json" => Ok(Format::JsonArray),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(Error::file(
                path,
                format!("unsupported data format '.{other}' (use .jsonl, .json, .csv or .parquet)"),
            )),
        }
    }
}

fn json_array_rows(text: &str, path: &Path) -> Result<Vec<NumberedRow>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: serde_json::Value = serde_json::from_str(body)
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

/// CSV with a header; the row number reported is the record's line (header = line 1).
fn csv_rows(
    source: impl std::io::Read,
    path: &Path,
    visit: &mut dyn FnMut(usize, Row) -> Result<()>,
) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(source);
    let headers = reader
        .headers()
        .map_err(|e| Error::line(path, 1, format!("header: {e}")))?
        .clone();
    for record in reader.byte_records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            Error::line(path, line, e.to_string())
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut row = serde_json::Map::new();
        for (name, value) in headers.iter().zip(record.iter()) {
            let text = std::str::from_utf8(value).map_err(|e| {
                Error::line(
                    path,
                    line,
                    format!("field '{name}': not valid UTF-8 (byte {})", e.valid_up_to()),
                )
            })?;
            row.insert(
                name.to_string(),
                serde_json::Value::String(text.to_string()),
            );
        }
        visit(line, row)?;
    }
    Ok(())
}

/// Parquet through the record reader, a row group at a time; the row number reported is the
/// row's index + 1.
fn parquet_rows(
    source: impl parquet::file::reader::ChunkReader + 'static,
    path: &Path,
    visit: &mut dyn FnMut(usize, Row) -> Result<()>,
) -> Result<()> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = without_panics(path, || SerializedFileReader::new(source))?
        .map_err(|e| Error::file(path, format!("not a readable parquet file: {e}")))?;
    let mut iter = reader
        .get_row_iter(None)
        .map_err(|e| Error::file(path, e.to_string()))?;
    let mut index = 0;
    while let Some(row) = without_panics(path, || iter.next())? {
        index += 1;
        let row = row.map_err(|e| Error::line(path, index, format!("row {index}: {e}")))?;
        match row.to_json_value() {
            serde_json::Value::Object(map) => visit(index, map)?,
            _ => return Err(Error::line(path, index, "row is not a record")),
        }
    }
    Ok(())
}

/// Runs a step of the parquet crate, which (at version 60) panics on some corrupt metadata
/// (e.g. a negative column start, found by tests/parser_properties.rs) instead of returning an
/// error: such a file is refused as corrupt, without the panic's message on the console.
fn without_panics<T>(path: &Path, step: impl FnOnce() -> T) -> Result<T> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(step));
    std::panic::set_hook(previous_hook);
    result.map_err(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unreadable metadata".into());
        Error::file(
            path,
            format!("not a readable parquet file: corrupt ({reason})"),
        )
    })
}
