//! The cache layout Python's `huggingface_hub` uses, so that each reads what the other wrote:
//!
//! ```text
//! HF_HUB_CACHE/models--owner--name/blobs/<etag>               the file's bytes
//!                                 /refs/<revision>            the commit a branch or tag was at
//!                                 /snapshots/<commit>/<file>  a relative link to the blob
//!                                 /.no_exist/<commit>/<file>  empty: the file is not in the repo
//! HF_HUB_CACHE/.locks/models--owner--name/<etag>.lock         held while the blob is written
//! ```
use super::settings::RepoKind;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) struct RepoCache {
    root: PathBuf,
    locks: PathBuf,
}

/// A full commit id: such a revision never moves, so its cached files need no request.
pub(crate) fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

impl RepoCache {
    pub(crate) fn new(cache: &Path, kind: RepoKind, repo: &str) -> Self {
        let folder = format!("{}--{}", kind.plural(), repo.replace('/', "--"));
        Self {
            root: cache.join(&folder),
            locks: cache.join(".locks").join(&folder),
        }
    }

    #[cfg(test)]
    fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blob(&self, etag: &str) -> PathBuf {
        self.root.join("blobs").join(etag)
    }

    pub(crate) fn lock(&self, etag: &str) -> PathBuf {
        self.locks.join(format!("{etag}.lock"))
    }

    pub(crate) fn pointer(&self, commit: &str, file: &str) -> PathBuf {
        self.root.join("snapshots").join(commit).join(file)
    }

    pub(crate) fn snapshot(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    fn no_exist(&self, commit: &str, file: &str) -> PathBuf {
        self.root.join(".no_exist").join(commit).join(file)
    }

    /// The commit a revision resolves to in the cache: itself for a commit id, else its ref.
    pub(crate) fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.root.join("refs").join(revision)).ok()?;
        Some(text.trim().to_string()).filter(|c| !c.is_empty())
    }

    /// Records that `revision` is at `commit` (written whole: a reader never sees half).
    pub(crate) fn set_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit || self.commit_of(revision).as_deref() == Some(commit) {
            return Ok(());
        }
        let path = self.root.join("refs").join(revision);
        write_whole(&path, commit.as_bytes())
    }

    /// What the cache knows of a file at a commit.
    pub(crate) fn lookup(&self, commit: &str, file: &str) -> Cached {
        let pointer = self.pointer(commit, file);
        if pointer.is_file() {
            Cached::Present(pointer)
        } else if self.no_exist(commit, file).exists() {
            Cached::Absent
        } else {
            Cached::Unknown
        }
    }

    /// Remembers that the repository has no such file at this commit.
    pub(crate) fn mark_missing(&self, commit: &str, file: &str) {
        let marker = self.no_exist(commit, file);
        let made = marker
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::File::create(&marker).map(drop));
        if let Err(e) = made {
            // Only a cost (the file is asked for again next time), never a failure.
            tracing::warn!("cannot record {}: {e}", marker.display());
        }
    }

    /// Makes `snapshots/<commit>/<file>` point at the blob (a relative link, as Python makes
    /// it, so the cache can move; a copy where links are not possible).
    pub(crate) fn link(&self, etag: &str, commit: &str, file: &str) -> Result<PathBuf> {
        let pointer = self.pointer(commit, file);
        let parent = pointer.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let depth = file.split('/').count() + 1;
        let target = Path::new(&"../".repeat(depth)).join("blobs").join(etag);
        let _ = std::fs::remove_file(&pointer);
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&target, &pointer);
        #[cfg(not(unix))]
        let made = std::fs::copy(self.blob(etag), &pointer).map(drop);
        match made {
            Ok(()) => Ok(pointer),
            // Another process linked it in between.
            Err(_) if pointer.is_file() => Ok(pointer),
            Err(e) => Err(Error::io(&pointer, e)),
        }
    }

    /// The files of the snapshot a revision points to (for listings when offline).
    pub(crate) fn snapshot_files(&self, commit: &str) -> Result<Vec<String>> {
        let snapshot = self.snapshot(commit);
        let mut files = Vec::new();
        if !snapshot.is_dir() {
            // The revision is known but none of its files was downloaded.
            return Ok(files);
        }
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
}

pub(crate) enum Cached {
    Present(PathBuf),
    /// A `.no_exist` marker: the Hub said the file is not there at this commit.
    Absent,
    Unknown,
}

/// Writes a small file through a temporary sibling and a rename.
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = path
        .file_name()
        .map_or("ref".into(), |n| n.to_string_lossy());
    let temp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temp, bytes).map_err(|e| Error::io(&temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RepoCache::new(dir.path(), RepoKind::Dataset, "owner/name");
        assert_eq!(cache.root(), dir.path().join("datasets--owner--name"));
        assert_eq!(
            cache.lock("abc"),
            dir.path().join(".locks/datasets--owner--name/abc.lock")
        );
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert!(is_commit(commit) && !is_commit("main"));
        cache.set_ref("refs/convert/parquet", commit).unwrap();
        assert_eq!(
            std::fs::read_to_string(cache.root().join("refs/refs/convert/parquet")).unwrap(),
            commit
        );
        assert_eq!(
            cache.commit_of("refs/convert/parquet").as_deref(),
            Some(commit)
        );
        std::fs::create_dir_all(cache.root().join("blobs")).unwrap();
        std::fs::write(cache.blob("e1"), b"x").unwrap();
        let pointer = cache
            .link("e1", commit, "default/train/0000.parquet")
            .unwrap();
        assert_eq!(
            std::fs::read_link(&pointer).unwrap(),
            Path::new("../../../../blobs/e1")
        );
        assert_eq!(std::fs::read(&pointer).unwrap(), b"x");
        assert!(matches!(cache.lookup(commit, "x.json"), Cached::Unknown));
        cache.mark_missing(commit, "x.json");
        assert!(matches!(cache.lookup(commit, "x.json"), Cached::Absent));
        assert_eq!(
            cache.snapshot_files(commit).unwrap(),
            vec!["default/train/0000.parquet".to_string()]
        );
    }
}
