//! Turning table rows into training and evaluation examples, with errors that name the
//! file, line and field.
use super::prompt::render;
use crate::error::{Error, Result};
use crate::jsonl::{NumberedRow, Row};
use crate::rng::{Purpose, Stream};
use serde_json::Value;
use std::path::Path;

/// Which columns of a row make an example (the recipe's `[data]` keys of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFields {
    /// A template with `{column}` placeholders that builds the source (or text).
    pub(crate) prompt: Option<String>,
    pub(crate) source_field: String,
    pub(crate) target_field: String,
    pub(crate) text_field: String,
    pub(crate) label_field: String,
    /// Skip rows whose source, target or text is empty instead of refusing them.
    pub(crate) skip_empty: bool,
}

#[derive(Debug, Clone)]
pub struct Seq2SeqExample {
    pub(crate) id: Option<Value>,
    pub(crate) source: String,
    pub(crate) target: String,
}

#[derive(Debug, Clone)]
pub struct ClassificationExample {
    pub(crate) id: Option<Value>,
    pub text: String,
    pub label: usize,
}

fn field_text(row: &Row, field: &str, path: &Path, line: usize) -> Result<String> {
    match row.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => {
            Err(Error::line(path, line, format!("missing field '{field}'")))
        }
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(Error::line(
            path,
            line,
            format!("field '{field}' is not text"),
        )),
    }
}

/// Source (the prompt filled from the row, or the source field) and target of each row.
pub fn seq2seq_examples(
    rows: &[NumberedRow],
    data: &ExampleFields,
    path: &Path,
) -> Result<Vec<Seq2SeqExample>> {
    every_row(rows, path, |line, row| {
        seq2seq_example(row, line, data, path)
    })
}

/// Text and integer label of each row; labels may be integers or names from `labels`.
pub fn classification_examples(
    rows: &[NumberedRow],
    data: &ExampleFields,
    labels: Option<&[String]>,
    num_labels: usize,
    path: &Path,
) -> Result<Vec<ClassificationExample>> {
    every_row(rows, path, |line, row| {
        classification_example(row, line, data, labels, num_labels, path)
    })
}

/// The examples of `rows` (`make` gives `None` for a row skipped as empty).
fn every_row<T>(
    rows: &[NumberedRow],
    path: &Path,
    make: impl Fn(usize, &Row) -> Result<Option<T>>,
) -> Result<Vec<T>> {
    let mut examples = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if let Some(example) = make(*line, row)? {
            examples.push(example);
        }
    }
    report_skipped(rows.len() - examples.len(), path);
    Ok(examples)
}

/// The source and target of one row, or `None` for a row with an empty field when
/// `skip_empty` is set.
pub(crate) fn seq2seq_example(
    row: &Row,
    line: usize,
    data: &ExampleFields,
    path: &Path,
) -> Result<Option<Seq2SeqExample>> {
    let source = match &data.prompt {
        Some(template) => render(template, row).map_err(|field| {
            Error::line(
                path,
                line,
                format!("missing field '{field}' (used in the prompt)"),
            )
        })?,
        None => field_text(row, &data.source_field, path, line)?,
    };
    let target = field_text(row, &data.target_field, path, line)?;
    let empty_field = if source.trim().is_empty() {
        Some(&data.source_field)
    } else if target.trim().is_empty() {
        Some(&data.target_field)
    } else {
        None
    };
    if let Some(field) = empty_field {
        if data.skip_empty {
            return Ok(None);
        }
        return Err(Error::line(
            path,
            line,
            format!("field '{field}' is empty (set data.skip_empty = true to skip such rows)"),
        ));
    }
    Ok(Some(Seq2SeqExample {
        id: row.get("id").cloned(),
        source,
        target,
    }))
}

/// The text and label of one row, or `None` for an empty text when `skip_empty` is set.
pub(crate) fn classification_example(
    row: &Row,
    line: usize,
    data: &ExampleFields,
    labels: Option<&[String]>,
    num_labels: usize,
    path: &Path,
) -> Result<Option<ClassificationExample>> {
    let field = &data.label_field;
    let text = match &data.prompt {
        Some(template) => render(template, row).map_err(|f| {
            Error::line(
                path,
                line,
                format!("missing field '{f}' (used in the prompt)"),
            )
        })?,
        None => field_text(row, &data.text_field, path, line)?,
    };
    if text.trim().is_empty() {
        if data.skip_empty {
            return Ok(None);
        }
        return Err(Error::line(
            path,
            line,
            format!(
                "field '{}' is empty (set data.skip_empty = true to skip such rows)",
                data.text_field
            ),
        ));
    }
    let label = match row.get(field) {
        // 1.0 is label 1 (pandas writes integer columns with missing values as floats).
        Some(Value::Number(n)) => match n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }) {
            Some(v) if (v as usize) < num_labels => v as usize,
            _ => {
                return Err(Error::line(
                    path,
                    line,
                    format!("field '{field}': label {n} is outside 0..{num_labels}"),
                ))
            }
        },
        Some(Value::String(name)) => {
            let position = labels.and_then(|l| l.iter().position(|x| x == name));
            match (position, name.parse::<usize>()) {
                (Some(i), _) => i,
                (None, Ok(v)) if v < num_labels => v,
                _ => {
                    return Err(Error::line(
                        path,
                        line,
                        format!(
                            "field '{field}': unknown label '{name}' (known: {:?})",
                            labels.unwrap_or_default()
                        ),
                    ))
                }
            }
        }
        Some(Value::Bool(b)) if num_labels == 2 => usize::from(*b),
        Some(Value::Null) | None => {
            return Err(Error::line(path, line, format!("missing field '{field}'")))
        }
        Some(other) => {
            return Err(Error::line(
                path,
                line,
                format!("field '{field}': label {other} is not an integer or a name"),
            ))
        }
    };
    Ok(Some(ClassificationExample {
        id: row.get("id").cloned(),
        text,
        label,
    }))
}

pub(crate) fn report_skipped(skipped: usize, path: &Path) {
    if skipped > 0 {
        tracing::warn!("{}: skipped {skipped} rows with empty text", path.display());
    }
}

/// A seeded random subset of `n` items (all of them, shuffled, when `n` is larger).
pub(crate) fn sample<T>(items: Vec<T>, n: Option<usize>, seed: u64) -> Vec<T> {
    draw(items, n, seed, 0)
}

/// `n` items of a seeded shuffle; `purpose` tells apart the draws made with one seed.
fn draw<T>(mut items: Vec<T>, n: Option<usize>, seed: u64, purpose: u64) -> Vec<T> {
    let Some(n) = n else { return items };
    Stream::new(seed, Purpose::Sample, [purpose, 0, 0]).shuffle(&mut items);
    items.truncate(n);
    items
}

/// Splits off the last `fraction` of a seeded shuffle as a validation set.
pub(crate) fn carve<T>(items: Vec<T>, fraction: f64, seed: u64) -> (Vec<T>, Vec<T>) {
    let mut items = draw(items, Some(usize::MAX), seed, 1);
    let keep = items.len() - ((items.len() as f64 * fraction).round() as usize).min(items.len());
    let validation = items.split_off(keep);
    (items, validation)
}
