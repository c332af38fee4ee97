//! `tokenizer_config.json` (loratune reads `clean_up_tokenization_spaces` from it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loratune::tokenizer::clean_up_flag(text, Path::new("tokenizer_config.json"));
});
