//! A model's `config.json` (T5, BERT, DistilBERT), checked as opening the model checks it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loratune::models::check_config(text, Path::new("config.json"));
});
