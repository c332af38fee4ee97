//! Inputs the fuzz targets (`fuzz/`, run outside CI) found, kept as regressions: each file in
//! `tests/fixtures/fuzz/TARGET/` goes through the parser that target fuzzes and must give a
//! result or a clean error naming the input, never a panic.
//!
//! Findings so far (fuzz/README.md has the runs):
//! * `data_parquet/timeout-7219ff35.parquet`, `slow-unit-2bf289f0.parquet` (621 bytes): a footer
//!   whose thrift metadata declares a huge list that the parquet crate (60.1) skips element by
//!   element (0.8 s in the test profile), then a clean error.
//! * `data_parquet/timeout-8f44b101.parquet`, `timeout-3873b8b9`, `timeout-f1ad58ab` (about
//!   900 bytes): the same in a page header, read with the rows (3 to 6 s), then a clean error
//!   naming row 1; `timeout-f9f82406`: a footer list of an invalid element type (0.7 s).
//! * `data_parquet/oom-c0cc474f.parquet` (875 bytes): a schema element declaring billions of
//!   children, for which the parquet crate reserves 7.3 GB up front (`Vec::with_capacity`). With
//!   Linux's default overcommit the untouched reservation costs nothing and the file is refused
//!   in microseconds; where allocations are checked strictly the process would abort.
//!
//! All are the parquet crate's (its thrift skip of zero-byte list elements), not ours: the file
//! is refused in the end, but a crafted file costs seconds of CPU. They stay here so that an
//! upgrade that turns them into a hang or a panic is noticed.
mod common;
use common::fixtures;
use std::path::Path;

/// Every regression input of `target`, with its bytes.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures().join("fuzz").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    files
}

#[test]
fn parquet_inputs_found_by_fuzzing_give_a_clean_result() {
    for (name, bytes) in inputs("data_parquet") {
        let started = std::time::Instant::now();
        let result = loratune::data::source::parse_rows(&bytes, Path::new("fuzz.parquet"));
        eprintln!(
            "{name}: {:?} in {:.2?}",
            result.as_ref().map(Vec::len),
            started.elapsed()
        );
        if let Err(e) = result {
            let message = e.to_string();
            assert!(message.contains("fuzz.parquet"), "{name}: {message}");
        }
    }
}
