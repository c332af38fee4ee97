//! The Hugging Face Hub: resolving a model reference (a local directory or a Hub repo id with
//! an optional `@revision`) or a dataset repository to files on disk, through the cache that
//! Python's `huggingface_hub` uses, configured by the same environment variables
//! (`settings`). Our own small client (`client`, `repo`, `download`): waits for a concurrent
//! download of the same file, resumes, retries, checks sha256, and reports each failure as
//! what it is (`failure`).
mod cache;
mod client;
mod download;
mod failure;
mod lock;
mod model;
mod repo;
pub mod settings;
mod space;

pub use model::{resolve_model, resolve_model_with, ModelFiles};
pub(crate) use repo::Need;
pub use settings::{RepoKind, Settings};

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

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

/// A repository on the Hub at a revision, with its own client.
pub(crate) fn open_repo(
    settings: &Settings,
    kind: RepoKind,
    id: &str,
    revision: &str,
) -> repo::HubRepo {
    repo::HubRepo::new(
        Arc::new(client::Client::new(settings.clone())),
        kind,
        id,
        revision,
    )
}

/// Whether the Hub answers, asked cheaply: one metadata request (HEAD) for one small file, no
/// retries. `Err(Error::HubUnreachable)` when nothing answers; any other answer but success
/// (401, 404, 5xx) is an error of its own.
pub fn probe(settings: &Settings, repo_id: &str, file: &str) -> Result<()> {
    open_repo(settings, RepoKind::Model, repo_id, "main").probe(file)
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
