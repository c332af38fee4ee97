//! A model reference (a local directory, or a Hub repo id with an optional `@revision`) to
//! the files on disk.
use super::parse_repo_reference;
use super::repo::Need;
use super::settings::{RepoKind, Settings};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The files of a model in Hugging Face layout.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// What the user wrote: a path or `owner/name[@revision]`.
    pub(crate) reference: String,
    pub(crate) config: PathBuf,
    pub(crate) weights: Vec<PathBuf>,
    pub(crate) tokenizer: PathBuf,
    pub(crate) tokenizer_config: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
    /// Further tokenizer files to copy along with a merged model.
    pub(crate) extra: Vec<PathBuf>,
}

impl ModelFiles {
    /// Every file, required and optional (for listing what a download fetched).
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.config.clone()];
        paths.extend(self.weights.iter().cloned());
        paths.push(self.tokenizer.clone());
        paths.extend(self.tokenizer_config.iter().cloned());
        paths.extend(self.generation_config.iter().cloned());
        paths.extend(self.extra.iter().cloned());
        paths
    }
}

/// Resolves a model reference to its files (the Hub settings from the environment).
pub fn resolve_model(reference: &str) -> Result<ModelFiles> {
    let path = Path::new(reference);
    if path.is_dir() {
        return local_model(reference, path);
    }
    if path.exists() || reference.starts_with('.') || reference.starts_with('/') {
        return Err(Error::file(path, "not a model directory"));
    }
    resolve_model_with(reference, &Settings::from_env()?)
}

/// Resolves a Hub model reference with the given settings.
pub fn resolve_model_with(reference: &str, settings: &Settings) -> Result<ModelFiles> {
    let (id, revision) = parse_repo_reference(reference);
    let repo = super::open_repo(settings, RepoKind::Model, &id, &revision);
    let required = |file: &str| -> Result<PathBuf> {
        repo.get(file, Need::Required)?
            .ok_or_else(|| Error::Hub(format!("{file} of {id}: not found")))
    };
    let config = required("config.json")?;
    let weights = match repo.get("model.safetensors.index.json", Need::Optional)? {
        Some(index) => shard_names(&index)?
            .iter()
            .map(|shard| required(shard.as_str()))
            .collect::<Result<Vec<_>>>()?,
        None => match repo.get("model.safetensors", Need::Optional)? {
            Some(path) => vec![path],
            None => {
                return Err(Error::Unsupported(format!(
                    "{reference} has no model.safetensors nor model.safetensors.index.json at \
                     revision '{revision}'; loratune never loads pickled pytorch_model.bin files: \
                     convert the model to safetensors first (e.g. with transformers: \
                     model.save_pretrained(dir, safe_serialization=True)) and give that directory"
                )))
            }
        },
    };
    let tokenizer = match repo.get("tokenizer.json", Need::Optional)? {
        Some(path) => path,
        None => {
            return Err(Error::Unsupported(format!(
                "{reference} has no tokenizer.json at revision '{revision}': loratune reads the \
                 fast tokenizer file only. Make one with transformers \
                 (AutoTokenizer.from_pretrained('{id}').save_pretrained(dir)), copy the model's \
                 files beside it and give that directory"
            )))
        }
    };
    let mut failure = None;
    let files = assemble(reference, config, weights, tokenizer, |file| {
        match repo.get(file, Need::Optional) {
            Ok(path) => path,
            Err(e) => {
                failure.get_or_insert(e);
                None
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(files),
    }
}

/// The optional files come from `optional` (a cache/Hub lookup or a directory check).
fn assemble(
    reference: &str,
    config: PathBuf,
    weights: Vec<PathBuf>,
    tokenizer: PathBuf,
    mut optional: impl FnMut(&str) -> Option<PathBuf>,
) -> ModelFiles {
    ModelFiles {
        reference: reference.to_string(),
        config,
        weights,
        tokenizer,
        tokenizer_config: optional("tokenizer_config.json"),
        generation_config: optional("generation_config.json"),
        extra: ["special_tokens_map.json", "spiece.model", "vocab.txt"]
            .iter()
            .filter_map(|f| optional(f))
            .collect(),
    }
}

fn local_model(reference: &str, dir: &Path) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::file(
            &config,
            "missing: not a Hugging Face model directory",
        ));
    }
    let index = dir.join("model.safetensors.index.json");
    let single = dir.join("model.safetensors");
    let weights = if index.is_file() {
        shard_names(&index)?.iter().map(|s| dir.join(s)).collect()
    } else if single.is_file() {
        vec![single]
    } else if dir.join("pytorch_model.bin").exists() {
        return Err(Error::Unsupported(format!(
            "{}: only pytorch_model.bin is present; loratune never unpickles weights. Convert it \
             to model.safetensors (e.g. with transformers: model.save_pretrained(dir, safe_serialization=True))",
            dir.display()
        )));
    } else {
        return Err(Error::file(
            dir,
            "no model.safetensors or model.safetensors.index.json",
        ));
    };
    let tokenizer = dir.join("tokenizer.json");
    if !tokenizer.is_file() {
        return Err(Error::file(
            &tokenizer,
            "missing (loratune reads the fast tokenizer file)",
        ));
    }
    Ok(assemble(reference, config, weights, tokenizer, |name| {
        Some(dir.join(name)).filter(|p| p.is_file())
    }))
}

fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::file(index, e.to_string()))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::file(index, "no 'weight_map' object"))?;
    let mut shards: Vec<String> = map
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    shards.sort();
    shards.dedup();
    Ok(shards)
}
