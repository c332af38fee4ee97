//! Folding adapters into the base weights and writing a full model directory that
//! Transformers loads (original key names, config, tokenizer files).
use super::Adaptable;
use crate::error::{Error, Result};
use crate::hub::ModelFiles;
use crate::nn::Weights;
use crate::output::{guard, AtomicDir, Replace};
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// W' = W + scale·B·A in every adapted layer; the model keeps working, without adapters.
/// Returns the modules whose weights now differ from the checkpoint.
pub fn merge_in_memory(model: &mut dyn Adaptable) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for linear in model.linears_mut() {
        if linear.adapter.is_some() || linear.weight.is_trainable() {
            changed.push(linear.name.clone());
        }
        linear.merge_adapter()?;
    }
    Ok(changed)
}

/// Marks a directory as a merged model written by loratune: only such a directory (or an
/// empty one) is ever replaced by a new merge.
pub(crate) const MERGE_MARKER: &str = "loratune-merge.json";

/// Refuses, before any work, an output that a merge must not replace: the base model's or the
/// adapter's directory or any folder holding them, the current directory or a folder above it,
/// and an existing non-empty directory that is not a previous merged model.
pub fn check_output(output: &Path, files: &ModelFiles, adapter: &Path) -> Result<()> {
    let model = guard::model_inputs(files);
    let mut inputs: Vec<(&str, &Path)> = model
        .iter()
        .map(|p| ("the base model", p.as_path()))
        .collect();
    inputs.push(("the adapter", adapter));
    guard::refuse_overlap(output, &inputs)?;
    Replace::IfHolds(MERGE_MARKER).check(output)
}

/// Merges and writes `output/` (config.json, model.safetensors, tokenizer files).
/// `edit_config` adjusts config.json (e.g. the labels of a new classification head).
/// `verify` runs on the finished files before they are published: when it fails, nothing is
/// written and a previous merged model stays as it was.
pub fn write_merged<T>(
    model: &mut dyn Adaptable,
    weights: &Weights,
    files: &ModelFiles,
    adapter: &Path,
    output: &Path,
    edit_config: impl FnOnce(&mut serde_json::Value),
    verify: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    check_output(output, files, adapter)?;
    let changed = merge_in_memory(model)?;
    let mut tensors: HashMap<String, Tensor> = weights.tensors().clone();
    for linear in model.linears_mut() {
        if !changed.contains(&linear.name) {
            continue;
        }
        let weight_key = format!("{}.weight", linear.name);
        let key = weights.resolve(&weight_key).unwrap_or(weight_key);
        tensors.insert(key, linear.weight.tensor().contiguous()?);
        if let Some(bias) = &linear.bias {
            let bias_key = format!("{}.bias", linear.name);
            let key = weights.resolve(&bias_key).unwrap_or(bias_key);
            tensors.insert(key, bias.tensor().contiguous()?);
        }
    }
    let mut config: serde_json::Value = crate::hub::read_json(&files.config)?;
    edit_config(&mut config);

    let out = AtomicDir::begin(output, Replace::IfHolds(MERGE_MARKER))?;
    let json = serde_json::to_string_pretty(&config).map_err(|e| Error::Config(e.to_string()))?;
    out.write("config.json", json.as_bytes())?;
    out.write_tensors("model.safetensors", &tensors)?;
    let mut extra: Vec<&Path> = vec![files.tokenizer.as_path()];
    extra.extend(files.tokenizer_config.as_deref());
    extra.extend(files.generation_config.as_deref());
    extra.extend(files.extra.iter().map(|p| p.as_path()));
    for source in extra {
        out.copy_in(source)?;
    }
    let marker = serde_json::json!({
        "base_model": files.reference,
        "adapter": adapter.display().to_string(),
        "loratune_version": env!("CARGO_PKG_VERSION"),
    });
    out.write(MERGE_MARKER, format!("{marker:#}\n").as_bytes())?;
    let verified = verify(out.path())?;
    out.commit()?;
    Ok(verified)
}
