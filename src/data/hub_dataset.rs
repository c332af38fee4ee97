//! Hugging Face Hub datasets written `hf:OWNER/NAME[:CONFIG]:SPLIT`: the split's data files
//! (parquet preferred, else JSON Lines / JSON / CSV) from the repository, or from the Hub's
//! parquet conversion (`refs/convert/parquet`), downloaded into the standard cache.
use crate::error::{Error, Result};
use crate::hub::{Need, RepoKind, Settings};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    pub(crate) repo: String,
    pub(crate) config: Option<String>,
    pub(crate) split: String,
}

impl DatasetSpec {
    /// `hf:OWNER/NAME:SPLIT` or `hf:OWNER/NAME:CONFIG:SPLIT`; `None` for other strings.
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let rest = text.strip_prefix("hf:")?;
        let parts: Vec<&str> = rest.split(':').collect();
        let bad = || Error::Config(format!("'{text}': expected hf:OWNER/NAME[:CONFIG]:SPLIT"));
        Some(match parts.as_slice() {
            [repo, split] if repo.contains('/') && !split.is_empty() => Ok(Self {
                repo: repo.to_string(),
                config: None,
                split: split.to_string(),
            }),
            [repo, config, split]
                if repo.contains('/') && !split.is_empty() && !config.is_empty() =>
            {
                Ok(Self {
                    repo: repo.to_string(),
                    config: Some(config.to_string()),
                    split: split.to_string(),
                })
            }
            _ => Err(bad()),
        })
    }
}

const FORMATS: [&str; 5] = ["parquet", "jsonl", "json", "csv", "ndjson"];

fn extension(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or("")
}

fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.').next().unwrap_or(name)
}

/// The data files of a split among a repository's files, in the order to read them.
/// Recognises the usual layouts: `CONFIG/SPLIT-00000-of-00001.parquet`, `CONFIG/SPLIT/0000.parquet`,
/// `data/SPLIT-*.parquet`, `SPLIT.csv`, `data/SPLIT.jsonl`, ...
pub(crate) fn split_files(files: &[String], config: Option<&str>, split: &str) -> Vec<String> {
    let in_config = |path: &str| match config {
        Some(c) => path.starts_with(&format!("{c}/")) || path.starts_with(&format!("data/{c}/")),
        None => true,
    };
    let matches_split = |path: &str| {
        let s = stem(path);
        let parent_is_split = path.rsplit('/').nth(1) == Some(split);
        s == split
            || s.starts_with(&format!("{split}-"))
            || s.starts_with(&format!("{split}_"))
            || parent_is_split
    };
    for format in FORMATS {
        let mut chosen: Vec<String> = files
            .iter()
            .filter(|f| extension(f) == format && in_config(f) && matches_split(f))
            .cloned()
            .collect();
        if config.is_none() {
            // Without a config, several configs may hold the split: keep the first directory.
            if let Some(first_dir) = chosen.first().map(|f| {
                f.rsplit_once('/')
                    .map(|(d, _)| d.to_string())
                    .unwrap_or_default()
            }) {
                chosen.retain(|f| f.rsplit_once('/').map(|(d, _)| d).unwrap_or("") == first_dir);
            }
        }
        if !chosen.is_empty() {
            chosen.sort();
            return chosen;
        }
    }
    Vec::new()
}

/// Local paths of the split's files, downloading them when needed (the Hub settings from the
/// environment; `cache` replaces their cache folder).
pub fn resolve(spec: &DatasetSpec, cache: Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut settings = Settings::from_env()?;
    if let Some(cache) = cache {
        settings.cache = cache;
    }
    resolve_with(spec, &settings)
}

/// `resolve` with the given settings. A failure to reach or read the repository (401, 403,
/// 404, no connection) is reported as itself; only a repository without the split's files
/// says "no data files".
pub fn resolve_with(spec: &DatasetSpec, settings: &Settings) -> Result<Vec<PathBuf>> {
    let mut looked = Vec::new();
    for revision in ["main", "refs/convert/parquet"] {
        let repo = crate::hub::open_repo(settings, RepoKind::Dataset, &spec.repo, revision);
        let Some(files) = repo.list_files()? else {
            looked.push(if settings.offline {
                format!("revision '{revision}' is not in the cache")
            } else {
                format!("the Hub has no revision '{revision}'")
            });
            continue;
        };
        let config = spec.config.as_deref().or(if revision == "main" {
            None
        } else {
            Some("default")
        });
        let chosen = split_files(&files, config, &spec.split);
        if !chosen.is_empty() {
            tracing::info!("hf:{} {}: {:?}", spec.repo, spec.split, chosen);
            return chosen
                .iter()
                .map(|file| {
                    repo.get(file, Need::Required)?.ok_or_else(|| {
                        Error::Hub(format!("{file} of dataset {}: not found", spec.repo))
                    })
                })
                .collect();
        }
        looked.push(format!(
            "revision '{revision}' has {} files, none of them the split's",
            files.len()
        ));
    }
    Err(Error::Hub(format!(
        "no data files for split '{}'{} of dataset {} ({}; cache {}{})",
        spec.split,
        spec.config
            .as_deref()
            .map(|c| format!(" (config '{c}')"))
            .unwrap_or_default(),
        spec.repo,
        looked.join("; "),
        settings.cache.display(),
        if settings.offline {
            "; HF_HUB_OFFLINE is set"
        } else {
            ""
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_specs() {
        assert_eq!(
            DatasetSpec::parse("hf:stanfordnlp/imdb:test")
                .unwrap()
                .unwrap(),
            DatasetSpec {
                repo: "stanfordnlp/imdb".into(),
                config: None,
                split: "test".into()
            }
        );
        assert_eq!(
            DatasetSpec::parse("hf:EdinburghNLP/xsum:default:train")
                .unwrap()
                .unwrap()
                .config
                .as_deref(),
            Some("default")
        );
        assert!(DatasetSpec::parse("hf:imdb").unwrap().is_err());
        assert!(DatasetSpec::parse("data/train.jsonl").is_none());
    }

    #[test]
    fn finds_split_files_in_common_layouts() {
        let imdb = names(&[
            "README.md",
            "plain_text/train-00000-of-00001.parquet",
            "plain_text/test-00000-of-00001.parquet",
            "plain_text/unsupervised-00000-of-00001.parquet",
        ]);
        assert_eq!(
            split_files(&imdb, None, "test"),
            names(&["plain_text/test-00000-of-00001.parquet"])
        );
        assert_eq!(
            split_files(&imdb, Some("plain_text"), "train"),
            names(&["plain_text/train-00000-of-00001.parquet"])
        );
        let dialogsum = names(&["README.md", "train.csv", "validation.csv", "test.csv"]);
        assert_eq!(
            split_files(&dialogsum, None, "validation"),
            names(&["validation.csv"])
        );
        let converted = names(&[
            "default/train/0000.parquet",
            "default/train/0001.parquet",
            "default/test/0000.parquet",
        ]);
        assert_eq!(
            split_files(&converted, Some("default"), "train"),
            names(&["default/train/0000.parquet", "default/train/0001.parquet"])
        );
        let data_dir = names(&[
            "data/test-00000-of-00002.parquet",
            "data/test-00001-of-00002.parquet",
            "data/train.jsonl",
        ]);
        assert_eq!(split_files(&data_dir, None, "test").len(), 2);
        assert_eq!(
            split_files(&data_dir, None, "train"),
            names(&["data/train.jsonl"])
        );
        assert!(split_files(&data_dir, None, "validation").is_empty());
    }
}
