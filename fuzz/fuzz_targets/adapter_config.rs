//! PEFT's `adapter_config.json`. An accepted config must be accepted again once written.
#![no_main]
use libfuzzer_sys::fuzz_target;
use loratune::lora::LoraConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("adapter_config.json");
    let Ok(config) = LoraConfig::parse(text, path) else {
        return;
    };
    let _ = config.target_names();
    let written = serde_json::to_string(&config).expect("an accepted config can be written");
    let again = LoraConfig::parse(&written, path)
        .unwrap_or_else(|e| panic!("written config refused: {e}\n{written}"));
    assert_eq!(
        serde_json::to_string(&again).expect("an accepted config can be written"),
        written,
        "config changed when read back"
    );
});
