//! Model architectures, one per file, and loading them from Hugging Face files.
pub mod t5;
pub mod weights;

use crate::error::Result;
use crate::hub::{read_json, ModelFiles};
use candle_core::{DType, Device};
use weights::Weights;

/// The `model_type` of a config.json.
pub fn model_type(files: &ModelFiles) -> Result<String> {
    let value: serde_json::Value = read_json(&files.config)?;
    Ok(value
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string())
}

pub fn load_t5(files: &ModelFiles, dtype: DType, device: &Device) -> Result<t5::T5> {
    Ok(load_t5_with_weights(files, dtype, device)?.0)
}

/// The model and the checkpoint it came from (needed to write a merged model).
pub fn load_t5_with_weights(files: &ModelFiles, dtype: DType, device: &Device) -> Result<(t5::T5, Weights)> {
    let config: t5::T5Config = read_json(&files.config)?;
    let weights = Weights::load(&files.weights, dtype, device)?;
    let model = t5::T5::load(config, &weights)?;
    warn_unused(&weights);
    Ok((model, weights))
}

pub fn warn_unused(weights: &Weights) {
    let unused = weights.unused();
    if !unused.is_empty() {
        tracing::warn!(
            "{}: {} checkpoint tensors not used: {:?}",
            weights.source().display(),
            unused.len(),
            unused
        );
    }
}
