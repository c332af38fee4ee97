//! A recipe and its `--set` overrides. The input is the recipe's text, then each override
//! after a NUL byte. An accepted recipe must survive being written and read back unchanged
//! (the run folder records it as `recipe.toml`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use loratune::recipe::Recipe;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let recipe_text = parts.next().unwrap_or_default();
    let overrides: Vec<String> = parts.map(str::to_string).collect();
    let path = Path::new("fuzz.toml");
    let Ok(recipe) = Recipe::parse(recipe_text, path, &overrides) else {
        return;
    };
    let written = recipe.to_toml().expect("an accepted recipe can be written");
    let again = Recipe::parse(&written, path, &[])
        .unwrap_or_else(|e| panic!("written recipe refused: {e}\n{written}"));
    let rewritten = again.to_toml().expect("an accepted recipe can be written");
    assert_eq!(written, rewritten, "recipe changed when read back");
});
