//! What an output may never replace: a folder that holds the job's inputs (the base model,
//! the adapter, the data), the current directory or a folder above it. Paths are compared
//! canonically, so `.`, `..`, symbolic links and Hub cache snapshots (links into `blobs/`)
//! cannot hide an overlap.
use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// The canonical form of a path that may not exist yet: its longest existing prefix
/// resolved, the rest appended with `.` and `..` applied.
pub(crate) fn canonical(path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(path)
    };
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    let resolved = loop {
        match existing.canonicalize() {
            Ok(resolved) => break resolved,
            Err(_) => match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name.to_os_string());
                    existing = parent.to_path_buf();
                }
                // `..` at the end, or the root: resolve lexically below.
                _ => break lexical(&existing),
            },
        }
    };
    let mut out = resolved;
    for part in rest.into_iter().rev() {
        out.push(part);
    }
    Ok(lexical(&out))
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Refuses to replace `output` when that would destroy one of `inputs` (named, e.g.
/// `("the base model", dir)`), the current directory or a folder above it.
pub(crate) fn refuse_overlap(output: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let out = canonical(output)?;
    let cwd = canonical(Path::new("."))?;
    if cwd.starts_with(&out) {
        let what = if cwd == out {
            "is the current directory"
        } else {
            "contains the current directory"
        };
        return Err(Error::file(
            output,
            format!("{what}: loratune will not replace it; choose another output directory"),
        ));
    }
    for (label, input) in inputs {
        let Ok(inp) = canonical(input) else { continue };
        if inp.starts_with(&out) {
            let how = if inp == out { "is" } else { "contains" };
            return Err(Error::file(
                output,
                format!(
                    "{how} {label} ({}): loratune will not replace it; choose another output directory",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The inputs a model reference stands for: its directory and each of its files (a Hub
/// snapshot's files are links into the cache's `blobs/`).
pub(crate) fn model_inputs(files: &crate::hub::ModelFiles) -> Vec<PathBuf> {
    let mut paths = vec![files.config.clone(), files.tokenizer.clone()];
    paths.extend(files.weights.iter().cloned());
    paths.extend(files.tokenizer_config.iter().cloned());
    paths.extend(files.generation_config.iter().cloned());
    paths.extend(files.extra.iter().cloned());
    let mut out: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    out.extend(paths.iter().filter_map(|p| p.canonicalize().ok()));
    out.extend(paths);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_resolves_missing_tails_and_dots() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(base.join("a")).unwrap();
        assert_eq!(
            canonical(&base.join("a/./b/../c")).unwrap(),
            base.join("a/c")
        );
        assert_eq!(canonical(&base.join("x/y/..")).unwrap(), base.join("x"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("a"), base.join("link")).unwrap();
            assert_eq!(
                canonical(&base.join("link/new")).unwrap(),
                base.join("a/new")
            );
        }
    }
}
