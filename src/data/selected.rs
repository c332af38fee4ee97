//! Examples chosen from a data file without holding the file in memory.
//!
//! The rows are read twice. A scan checks every row (so a bad row is refused before any model
//! work) and notes which rows make examples; the caller then picks example positions (a seeded
//! `sample` or `carve` of `0..examples`, the same permutation as when the examples themselves
//! were shuffled); finally the chosen examples alone are built, a chunk at a time, and handed to
//! a conversion (tokenizing, for training) whose output is all that is kept. Memory is bounded by
//! a chunk of rows and the converted output, never by the file.
use super::source::visit_rows;
use crate::error::{Error, Result};
use crate::jsonl::Row;
use std::path::Path;

/// Examples built and converted at once.
const CHUNK: usize = 1024;

/// How a row becomes an example: `None` for a row skipped as empty. Gets the file the row came
/// from (a Hub split has several) and its line number, for errors.
pub type MakeExample<'a, T> = dyn Fn(&Path, usize, &Row) -> Result<Option<T>> + 'a;

/// A data file (or Hub split) that has been scanned: its rows, and which made examples.
pub struct ExampleFile<'a, T> {
    path: String,
    make: Box<MakeExample<'a, T>>,
    /// One entry a row: whether it makes an example.
    makes_example: Vec<bool>,
    examples: usize,
}

impl<'a, T> ExampleFile<'a, T> {
    /// Reads and checks every row of `path` once, keeping only one bit a row.
    pub fn scan(
        path: &str,
        make: impl Fn(&Path, usize, &Row) -> Result<Option<T>> + 'a,
    ) -> Result<Self> {
        let mut makes_example = Vec::new();
        visit_rows(Path::new(path), &mut |file, line, row| {
            makes_example.push(make(file, line, &row)?.is_some());
            Ok(())
        })?;
        let examples = makes_example.iter().filter(|m| **m).count();
        super::dataset::report_skipped(makes_example.len() - examples, Path::new(path));
        Ok(Self {
            path: path.to_string(),
            make: Box::new(make),
            makes_example,
            examples,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Rows read from the file.
    pub fn rows(&self) -> usize {
        self.makes_example.len()
    }

    /// Examples made from them.
    pub fn examples(&self) -> usize {
        self.examples
    }

    /// The examples at `chosen` (positions among the file's examples), in that order, each
    /// turned into a `U` by `convert`, which gets the examples a chunk at a time and returns
    /// one output each.
    pub fn build<U>(
        &self,
        chosen: &[usize],
        convert: impl FnMut(Vec<T>) -> Result<Vec<U>>,
    ) -> Result<Vec<U>> {
        let mut out: Vec<Option<U>> = (0..chosen.len()).map(|_| None).collect();
        self.build_into(chosen, convert, |slot, value| {
            out[slot] = Some(value);
            Ok(())
        })?;
        out.into_iter()
            .collect::<Option<Vec<U>>>()
            .ok_or_else(|| self.changed())
    }

    /// As [`ExampleFile::build`], but each output goes to `place(slot, output)` as soon as its
    /// chunk is converted (`slot`: its index in `chosen`), so the caller decides where the
    /// outputs live (e.g. a column that spills to disk).
    pub fn build_into<U>(
        &self,
        chosen: &[usize],
        mut convert: impl FnMut(Vec<T>) -> Result<Vec<U>>,
        mut place: impl FnMut(usize, U) -> Result<()>,
    ) -> Result<()> {
        const NOT_CHOSEN: usize = usize::MAX;
        let mut slot_of = vec![NOT_CHOSEN; self.examples];
        for (slot, &position) in chosen.iter().enumerate() {
            *slot_of.get_mut(position).ok_or_else(|| {
                Error::Config(format!(
                    "{}: example {position} chosen of {}",
                    self.path, self.examples
                ))
            })? = slot;
        }
        let mut chunk = Chunk {
            slots: Vec::with_capacity(CHUNK),
            examples: Vec::with_capacity(CHUNK),
        };
        let (mut row_index, mut position, mut placed) = (0usize, 0usize, 0usize);
        visit_rows(Path::new(&self.path), &mut |file, line, row| {
            let makes_example = *self
                .makes_example
                .get(row_index)
                .ok_or_else(|| self.changed())?;
            row_index += 1;
            if !makes_example {
                return Ok(());
            }
            let slot = slot_of[position];
            position += 1;
            if slot == NOT_CHOSEN {
                return Ok(());
            }
            let example = (self.make)(file, line, &row)?.ok_or_else(|| self.changed())?;
            chunk.slots.push(slot);
            chunk.examples.push(example);
            if chunk.examples.len() == CHUNK {
                placed += chunk.convert(&mut convert, &mut place)?;
            }
            Ok(())
        })?;
        placed += chunk.convert(&mut convert, &mut place)?;
        if placed != chosen.len() {
            return Err(self.changed());
        }
        Ok(())
    }

    fn changed(&self) -> Error {
        Error::file(&self.path, "the file changed while it was read")
    }
}

/// The examples waiting for conversion, and the slots their outputs go to.
struct Chunk<T> {
    slots: Vec<usize>,
    examples: Vec<T>,
}

impl<T> Chunk<T> {
    /// Converts the waiting examples and places the outputs; returns how many.
    fn convert<U>(
        &mut self,
        convert: &mut impl FnMut(Vec<T>) -> Result<Vec<U>>,
        place: &mut impl FnMut(usize, U) -> Result<()>,
    ) -> Result<usize> {
        if self.examples.is_empty() {
            return Ok(0);
        }
        let converted = convert(std::mem::take(&mut self.examples))?;
        debug_assert_eq!(converted.len(), self.slots.len());
        let mut placed = 0;
        for (slot, value) in self.slots.drain(..).zip(converted) {
            place(slot, value)?;
            placed += 1;
        }
        Ok(placed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::sample;

    fn numbers_file(dir: &Path, n: usize) -> String {
        let path = dir.join("rows.jsonl");
        let text: String = (0..n)
            .map(|i| {
                // every fifth row empty: skipped
                let text = if i % 5 == 4 {
                    String::new()
                } else {
                    i.to_string()
                };
                format!("{{\"text\": \"{text}\"}}\n")
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn make(_: &Path, _: usize, row: &Row) -> Result<Option<String>> {
        let text = row["text"].as_str().unwrap_or_default().to_string();
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    #[test]
    fn builds_the_same_examples_as_sampling_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = numbers_file(dir.path(), 3000);
        let file = ExampleFile::scan(&path, make).unwrap();
        assert_eq!((file.rows(), file.examples()), (3000, 2400));
        let all: Vec<String> = (0..3000)
            .filter(|i| i % 5 != 4)
            .map(|i| i.to_string())
            .collect();
        for n in [None, Some(5), Some(2000), Some(5000)] {
            let chosen = sample((0..file.examples()).collect(), n, 11);
            let mut chunks = 0;
            let built = file
                .build(&chosen, |chunk| {
                    chunks += 1;
                    Ok(chunk)
                })
                .unwrap();
            assert_eq!(built, sample(all.clone(), n, 11), "n = {n:?}");
            assert_eq!(chunks, built.len().div_ceil(CHUNK));
        }
    }

    #[test]
    fn a_file_changed_between_the_passes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = numbers_file(dir.path(), 10);
        let file = ExampleFile::scan(&path, make).unwrap();
        numbers_file(dir.path(), 4);
        let err = file.build(&[0, 7], Ok).unwrap_err().to_string();
        assert!(err.contains("changed while it was read"), "{err}");
    }
}
