//! One repository at one revision, read through the cache as Python's `hf_hub_download` and
//! `snapshot_download` do: a metadata request (HEAD) per file when online, the cached copy
//! when the Hub cannot answer, nothing but the cache when offline.
//!
//! One shortcut beyond Python: once a request has told which commit the revision is at, files
//! already in that commit's snapshot (or marked absent in `.no_exist`) need no further request
//! in this process, since a commit never changes.
use super::cache::{is_commit, Cached, RepoCache};
use super::client::{Client, Follow};
use super::download::{fetch, Blob};
use super::failure::{Failure, Target};
use super::settings::{RepoKind, Settings};
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Whether a missing file is an error or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}

pub(crate) struct HubRepo {
    client: Arc<Client>,
    kind: RepoKind,
    id: String,
    revision: String,
    cache: RepoCache,
    /// The commit the revision was found at (set by the first answer of the Hub).
    commit: OnceLock<String>,
}

/// `quote(text, safe="")` for one URL path segment (a revision such as `refs/convert/parquet`).
fn encode_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file path in a URL: each segment encoded, the `/` kept.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

impl HubRepo {
    pub(crate) fn new(client: Arc<Client>, kind: RepoKind, id: &str, revision: &str) -> Self {
        let cache = RepoCache::new(&client.settings().cache, kind, id);
        Self {
            client,
            kind,
            id: id.to_string(),
            revision: revision.to_string(),
            cache,
            commit: OnceLock::new(),
        }
    }

    fn settings(&self) -> &Settings {
        self.client.settings()
    }

    fn target<'a>(&'a self, file: Option<&'a str>) -> Target<'a> {
        Target {
            settings: self.settings(),
            kind: self.kind,
            repo: &self.id,
            revision: &self.revision,
            file,
        }
    }

    fn resolve_url(&self, file: &str) -> String {
        format!(
            "{}/{}{}/resolve/{}/{}",
            self.settings().endpoint,
            self.kind.url_prefix(),
            self.id,
            encode_segment(&self.revision),
            encode_path(file)
        )
    }

    /// The commit known without asking: a commit revision, or one learnt in this process.
    fn known_commit(&self) -> Option<String> {
        if is_commit(&self.revision) {
            return Some(self.revision.clone());
        }
        self.commit.get().cloned()
    }

    fn learn_commit(&self, commit: &str) {
        let _ = self.commit.set(commit.to_string());
        if let Err(e) = self.cache.set_ref(&self.revision, commit) {
            tracing::warn!("cannot record the revision in the cache: {e}");
        }
    }

    fn not_cached(&self, file: &str) -> Error {
        Error::Hub(format!(
            "{file} of {} (revision {}) is not in the cache {} and HF_HUB_OFFLINE is set: run \
             once online to download it",
            self.id,
            self.revision,
            self.settings().cache.display()
        ))
    }

    fn absent(&self, file: &str, need: Need) -> Result<Option<PathBuf>> {
        match need {
            Need::Optional => Ok(None),
            Need::Required => Err(self.target(Some(file)).error(Failure::Status {
                url: self.resolve_url(file),
                status: 404,
                code: Some("EntryNotFound".into()),
                message: None,
                commit: None,
            })),
        }
    }

    /// A file: `Ok(None)` only for an optional file the repository does not have.
    pub(crate) fn get(&self, file: &str, need: Need) -> Result<Option<PathBuf>> {
        if let Some(commit) = self.known_commit() {
            match self.cache.lookup(&commit, file) {
                Cached::Present(path) => return Ok(Some(path)),
                Cached::Absent => return self.absent(file, need),
                Cached::Unknown => {}
            }
        }
        if self.settings().offline {
            return match self.cache.commit_of(&self.revision) {
                Some(commit) => match self.cache.lookup(&commit, file) {
                    Cached::Present(path) => Ok(Some(path)),
                    Cached::Absent => self.absent(file, need),
                    Cached::Unknown if need == Need::Optional => Ok(None),
                    Cached::Unknown => Err(self.not_cached(file)),
                },
                None if need == Need::Optional => Ok(None),
                None => Err(self.not_cached(file)),
            };
        }
        let meta = match self.head(file, false) {
            Ok(meta) => meta,
            Err(failure) if failure.is_missing_entry() => return self.absent(file, need),
            Err(failure) => {
                if let Some(cached) = self.cached_after(&failure, file, need) {
                    return cached;
                }
                if !failure.is_transient() {
                    return Err(self.target(Some(file)).error(failure));
                }
                // Nothing cached: now worth waiting for the Hub.
                match self.head(file, true) {
                    Ok(meta) => meta,
                    Err(again) if again.is_missing_entry() => return self.absent(file, need),
                    Err(again) => return Err(self.target(Some(file)).error(again)),
                }
            }
        };
        self.learn_commit(&meta.commit);
        if let Cached::Present(path) = self.cache.lookup(&meta.commit, file) {
            return Ok(Some(path));
        }
        let blob = self.cache.blob(&meta.etag);
        let what = format!("{file} of {}", self.id);
        let _lock = super::lock::acquire(&self.cache.lock(&meta.etag), &what)?;
        if !blob.is_file() {
            let fail = |failure| self.target(Some(file)).error(failure);
            let job = Blob {
                url: &meta.location,
                etag: &meta.etag,
                size: meta.size,
                path: &blob,
                what: &what,
                progress: need == Need::Required,
            };
            fetch(&self.client, &job, &fail)?;
        }
        self.cache.link(&meta.etag, &meta.commit, file).map(Some)
    }

    /// After a failed metadata request: the cached copy if there is one, as Python does.
    fn cached_after(
        &self,
        failure: &Failure,
        file: &str,
        need: Need,
    ) -> Option<Result<Option<PathBuf>>> {
        let commit = self.cache.commit_of(&self.revision)?;
        match self.cache.lookup(&commit, file) {
            Cached::Present(path) => {
                tracing::warn!(
                    "{}; using the cached {file} of {} (commit {commit})",
                    self.target(Some(file)).error(failure.clone()),
                    self.id
                );
                Some(Ok(Some(path)))
            }
            Cached::Absent => Some(self.absent(file, need)),
            Cached::Unknown => None,
        }
    }

    /// HEAD of the file's resolve URL, as `get_hf_file_metadata`. A 404 for the file records
    /// it in `.no_exist`.
    fn head(&self, file: &str, retry: bool) -> std::result::Result<Meta, Failure> {
        let url = self.resolve_url(file);
        let timeout = Some(self.settings().etag_timeout);
        let sent = if retry {
            self.client
                .send_with_retries("HEAD", &url, &[], timeout, Follow::Relative)
        } else {
            self.client
                .send("HEAD", &url, &[], timeout, Follow::Relative)
        };
        let response = match sent {
            Ok(response) => response,
            Err(failure) => {
                if let (
                    true,
                    Failure::Status {
                        commit: Some(c), ..
                    },
                ) = (failure.is_missing_entry(), &failure)
                {
                    self.cache.mark_missing(c, file);
                    self.learn_commit(c);
                }
                return Err(failure);
            }
        };
        let header = |name: &str| response.header(name).map(str::to_string);
        let not_hub = |what: &str| Failure::Transport {
            url: url.clone(),
            message: format!(
                "the answer has no {what} header, so it does not come from a Hugging Face Hub \
                 (check HF_ENDPOINT and any proxy)"
            ),
        };
        let commit = header("X-Repo-Commit").ok_or_else(|| not_hub("X-Repo-Commit"))?;
        let etag = header("X-Linked-Etag")
            .or_else(|| header("ETag"))
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
            .filter(|e| !e.is_empty() && !e.contains(['/', '\\']))
            .ok_or_else(|| not_hub("ETag"))?;
        let redirected = (300..400).contains(&response.status());
        let size = header("X-Linked-Size")
            .or_else(|| (!redirected).then(|| header("Content-Length")).flatten())
            .and_then(|s| s.trim().parse().ok());
        let location = match header("Location").filter(|_| redirected) {
            Some(location) if location.contains("://") => location,
            Some(location) => format!("{}{location}", self.settings().endpoint),
            None => response.get_url().to_string(),
        };
        Ok(Meta {
            commit,
            etag,
            size,
            location,
        })
    }

    /// The repository's files at the revision (its commit learnt on the way); offline, or
    /// when the Hub cannot answer, the cached snapshot's. `None`: the Hub has no such
    /// revision, or (offline) the cache has none.
    pub(crate) fn list_files(&self) -> Result<Option<Vec<String>>> {
        if self.settings().offline {
            return match self.cache.commit_of(&self.revision) {
                Some(commit) => self.cache.snapshot_files(&commit).map(Some),
                None => Ok(None),
            };
        }
        let url = format!(
            "{}/api/{}/{}/revision/{}",
            self.settings().endpoint,
            self.kind.plural(),
            self.id,
            encode_segment(&self.revision)
        );
        let failure = match self.client.get_json(&url) {
            Ok(info) => {
                let files = info
                    .get("siblings")
                    .and_then(|s| s.as_array())
                    .map(|siblings| {
                        siblings
                            .iter()
                            .filter_map(|s| s.get("rfilename")?.as_str().map(str::to_string))
                            .collect::<Vec<_>>()
                    });
                let commit = info.get("sha").and_then(|s| s.as_str());
                match (files, commit) {
                    (Some(files), Some(commit)) => {
                        self.learn_commit(commit);
                        return Ok(Some(files));
                    }
                    _ => Failure::Transport {
                        url,
                        message: "the answer has no 'siblings' and 'sha': not a Hub API".into(),
                    },
                }
            }
            Err(failure) => failure,
        };
        if failure.is_missing_revision() {
            return Ok(None);
        }
        match self.cache.commit_of(&self.revision) {
            Some(commit) if self.cache.snapshot(&commit).is_dir() => {
                tracing::warn!(
                    "{}; using the cached snapshot {commit}",
                    self.target(None).error(failure)
                );
                self.cache.snapshot_files(&commit).map(Some)
            }
            _ => Err(self.target(None).error(failure)),
        }
    }

    /// One metadata request, no retries: whether the Hub answers for this file.
    pub(crate) fn probe(&self, file: &str) -> Result<()> {
        self.head(file, false)
            .map(drop)
            .map_err(|failure| self.target(Some(file)).error(failure))
    }
}

struct Meta {
    commit: String,
    etag: String,
    size: Option<u64>,
    /// Where the bytes are: the Hub's redirect for an LFS file, else the resolve URL.
    location: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_revisions_as_python() {
        assert_eq!(
            encode_segment("refs/convert/parquet"),
            "refs%2Fconvert%2Fparquet"
        );
        assert_eq!(
            encode_path("default/train/0000.parquet"),
            "default/train/0000.parquet"
        );
        assert_eq!(encode_path("a b/c+d.json"), "a%20b/c%2Bd.json");
    }
}
