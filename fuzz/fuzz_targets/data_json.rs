//! JSON Lines and JSON-array data files: the same bytes through both readers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use loratune::data::source::parse_rows;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = parse_rows(data, Path::new("fuzz.jsonl"));
    let _ = parse_rows(data, Path::new("fuzz.json"));
});
