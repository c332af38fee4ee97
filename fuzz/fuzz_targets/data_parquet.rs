//! Parquet data files (footer, schema, pages, through the record reader).
#![no_main]
use libfuzzer_sys::fuzz_target;
use loratune::data::source::parse_rows;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = parse_rows(data, Path::new("fuzz.parquet"));
});
