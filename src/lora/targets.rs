//! Default LoRA target modules per architecture: the one table loratune uses when a recipe
//! leaves `lora.target_modules` unset, as PEFT's
//! `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING` (the attention query and value
//! projections, named as in each Transformers model).

/// `(model_type, target module names)`, for the `model_type`s of config.json.
pub(crate) const DEFAULT_TARGETS: &[(&str, &[&str])] = &[
    ("t5", &["q", "v"]),
    ("mt5", &["q", "v"]),
    ("bert", &["query", "value"]),
    ("roberta", &["query", "value"]),
    ("xlm-roberta", &["query", "value"]),
    ("distilbert", &["q_lin", "v_lin"]),
];

/// Used for a `model_type` the table lacks (BERT-style naming, which loratune's encoder
/// loader also reads).
pub(crate) const FALLBACK_TARGETS: &[&str] = &["query", "value"];

/// PEFT's default target modules for a `model_type`.
pub(crate) fn default_targets(model_type: &str) -> Vec<String> {
    DEFAULT_TARGETS
        .iter()
        .find(|(kind, _)| *kind == model_type)
        .map_or(FALLBACK_TARGETS, |(_, names)| names)
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_defaults() {
        assert_eq!(default_targets("t5"), ["q", "v"]);
        assert_eq!(default_targets("mt5"), ["q", "v"]);
        assert_eq!(default_targets("distilbert"), ["q_lin", "v_lin"]);
        assert_eq!(default_targets("bert"), ["query", "value"]);
        assert_eq!(default_targets("roberta"), ["query", "value"]);
        assert_eq!(default_targets(""), ["query", "value"]);
    }
}
