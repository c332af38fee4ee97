//! Resolving a model reference (a local directory or a Hub repo id with an optional
//! `@revision`) to files on disk, through the standard Hugging Face cache.
use crate::error::{Error, Result};
use hf_hub::{Cache, Repo, RepoType};
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

/// `owner/name[@revision]` → (repo id, revision).
pub fn parse_repo_reference(reference: &str) -> (String, String) {
    match reference.split_once('@') {
        Some((id, rev)) if !rev.is_empty() => (id.to_string(), rev.to_string()),
        _ => (
            reference.trim_end_matches('@').to_string(),
            "main".to_string(),
        ),
    }
}

/// The cache directory, as the Python client chooses it: `HF_HUB_CACHE`, else
/// `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    Cache::from_env().path().clone()
}

pub(crate) fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// One repository on the Hub, read through the cache.
pub(crate) struct HubRepo {
    repo: Repo,
    cache: Cache,
}

impl HubRepo {
    pub(crate) fn new(id: &str, revision: &str, kind: RepoType) -> Self {
        Self::with_cache(id, revision, kind, cache_dir())
    }

    pub(crate) fn with_cache(id: &str, revision: &str, kind: RepoType, cache: PathBuf) -> Self {
        Self {
            repo: Repo::with_revision(id.to_string(), kind, revision.to_string()),
            cache: Cache::new(cache),
        }
    }

    /// The repository's files at the revision: from the Hub, or when offline (or the Hub is
    /// unreachable) from the cached snapshot.
    pub(crate) fn list_files(&self) -> Result<Vec<String>> {
        if !offline() {
            match self.api().and_then(|api| {
                api.repo(self.repo.clone())
                    .info()
                    .map_err(|e| Error::Hub(format!("listing {}: {e}", self.repo.folder_name())))
            }) {
                Ok(info) => return Ok(info.siblings.into_iter().map(|s| s.rfilename).collect()),
                Err(e) => tracing::warn!("{e}; using the local cache"),
            }
        }
        self.cached_files()
    }

    /// Files of the cached snapshot that the revision's ref points to.
    pub(crate) fn cached_files(&self) -> Result<Vec<String>> {
        let root = self.cache.path().join(self.repo.folder_name());
        let ref_path = root.join("refs").join(self.repo.revision());
        let commit = std::fs::read_to_string(&ref_path).map_err(|_| {
            Error::Hub(format!(
                "{} (revision {}) is not in the cache {}{}",
                self.repo.folder_name(),
                self.repo.revision(),
                self.cache.path().display(),
                if offline() {
                    " and HF_HUB_OFFLINE is set"
                } else {
                    ""
                }
            ))
        })?;
        let snapshot = root.join("snapshots").join(commit.trim());
        let mut files = Vec::new();
        let mut stack = vec![snapshot.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let path = entry.map_err(|e| Error::io(&dir, e))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(relative) = path.strip_prefix(&snapshot) {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        files.sort();
        Ok(files)
    }

    fn api(&self) -> Result<hf_hub::api::sync::Api> {
        let token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| self.cache.token());
        hf_hub::api::sync::ApiBuilder::from_cache(self.cache.clone())
            .with_token(token)
            .with_progress(true)
            .build()
            .map_err(|e| Error::Hub(e.to_string()))
    }

    /// A file of the repository: from the cache, else downloaded (unless offline).
    pub(crate) fn get(&self, filename: &str) -> Result<PathBuf> {
        if let Some(path) = self.cache.repo(self.repo.clone()).get(filename) {
            return Ok(path);
        }
        if offline() {
            return Err(Error::Hub(format!(
                "{filename} of {} is not in the cache {} and HF_HUB_OFFLINE is set",
                self.repo.folder_name(),
                self.cache.path().display()
            )));
        }
        self.api()?
            .repo(self.repo.clone())
            .get(filename)
            .map_err(|e| Error::Hub(format!("{filename} of {}: {e}", self.repo.folder_name())))
    }

    pub(crate) fn get_optional(&self, filename: &str) -> Option<PathBuf> {
        match self.get(filename) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::debug!("optional file not available: {e}");
                None
            }
        }
    }
}

/// Resolves a model reference to its files.
pub fn resolve_model(reference: &str) -> Result<ModelFiles> {
    let path = Path::new(reference);
    if path.is_dir() {
        return local_model(reference, path);
    }
    if path.exists() || reference.starts_with('.') || reference.starts_with('/') {
        return Err(Error::file(path, "not a model directory"));
    }
    let (id, revision) = parse_repo_reference(reference);
    let repo = HubRepo::new(&id, &revision, RepoType::Model);
    let config = repo.get("config.json")?;
    let weights = match repo.get_optional("model.safetensors.index.json") {
        Some(index) => {
            let shards = shard_names(&index)?;
            shards
                .iter()
                .map(|s| repo.get(s))
                .collect::<Result<Vec<_>>>()?
        }
        None => match repo.get("model.safetensors") {
            Ok(p) => vec![p],
            Err(e) => {
                return Err(Error::Unsupported(format!(
                    "{reference} has no model.safetensors ({e}); loratune never loads pickled \
                     pytorch_model.bin files: convert the model to safetensors first"
                )))
            }
        },
    };
    let tokenizer = repo.get("tokenizer.json")?;
    Ok(assemble(reference, config, weights, tokenizer, |f| {
        repo.get_optional(f)
    }))
}

/// The optional files come from `optional` (a cache/Hub lookup or a directory check).
fn assemble(
    reference: &str,
    config: PathBuf,
    weights: Vec<PathBuf>,
    tokenizer: PathBuf,
    optional: impl Fn(&str) -> Option<PathBuf>,
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

/// Reads a JSON file into a config struct, naming the file on error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_json(&text, path)
}

/// Parses JSON text into a config struct; errors name `path` and the line.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::line(path, e.line(), format!("{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_reference_with_revision() {
        assert_eq!(
            parse_repo_reference("google/flan-t5-base@v1.2"),
            ("google/flan-t5-base".into(), "v1.2".into())
        );
        assert_eq!(
            parse_repo_reference("google/flan-t5-base"),
            ("google/flan-t5-base".into(), "main".into())
        );
    }
}
