//! Folding adapters into the base weights and writing a full model directory that
//! Transformers loads (original key names, config, tokenizer files).
use super::Adaptable;
use crate::error::{Error, Result};
use crate::hub::ModelFiles;
use crate::models::weights::Weights;
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

/// Merges and writes `output/` (config.json, model.safetensors, tokenizer files).
/// `edit_config` adjusts config.json (e.g. the labels of a new classification head).
pub fn write_merged(
    model: &mut dyn Adaptable,
    weights: &Weights,
    files: &ModelFiles,
    output: &Path,
    edit_config: impl FnOnce(&mut serde_json::Value),
) -> Result<()> {
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

    let temp = output.with_file_name(format!(
        ".{}.tmp-{}",
        output
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("merged"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(|e| Error::io(&temp, e))?;
    let written = (|| -> Result<()> {
        let json =
            serde_json::to_string_pretty(&config).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(temp.join("config.json"), json)
            .map_err(|e| Error::io(temp.join("config.json"), e))?;
        candle_core::safetensors::save(&tensors, temp.join("model.safetensors"))?;
        let mut extra: Vec<&Path> = vec![files.tokenizer.as_path()];
        extra.extend(files.tokenizer_config.as_deref());
        extra.extend(files.generation_config.as_deref());
        extra.extend(files.extra.iter().map(|p| p.as_path()));
        for source in extra {
            if let Some(name) = source.file_name() {
                std::fs::copy(source, temp.join(name)).map_err(|e| Error::io(source, e))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    if output.exists() {
        std::fs::remove_dir_all(output).map_err(|e| Error::io(output, e))?;
    }
    std::fs::rename(&temp, output).map_err(|e| Error::io(output, e))?;
    Ok(())
}
