//! A run's output directory (`train.output_dir`): adapter, checkpoints, metrics, report. A run
//! never writes into a folder it does not recognise as a run of its own, and replaces a
//! previous run only when asked to (`--overwrite`, `train.overwrite_output_dir`), whole, so old
//! checkpoints are never mixed with new ones.
use super::{cleanup, dir, guard, names};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Written first into every run directory.
pub(crate) const RUN_MARKER: &str = "loratune-run.json";

/// Who made a run directory: `loratune quickstart` replaces its own runs without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunKind {
    Train,
    Quickstart,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    kind: RunKind,
    loratune_version: String,
}

/// What an existing folder holds, as far as a run is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Holds {
    Nothing,
    /// A run directory that holds nothing yet but its marker (made by `quickstart` just before
    /// training starts, or by a run that stopped before its first output).
    Fresh,
    Run(RunKind),
    /// Files that are not a loratune run (the first few names).
    Other(Vec<String>),
}

fn holds(dir: &Path) -> Result<Holds> {
    if !dir.exists() || dir::is_empty_dir(dir)? {
        return Ok(Holds::Nothing);
    }
    let marker = dir.join(RUN_MARKER);
    let only_marker = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .all(|e| e.file_name() == RUN_MARKER);
    if only_marker {
        return Ok(Holds::Fresh);
    }
    if marker.is_file() {
        let text = std::fs::read_to_string(&marker).map_err(|e| Error::io(&marker, e))?;
        let kind = serde_json::from_str::<Marker>(&text)
            .map(|m| m.kind)
            .unwrap_or(RunKind::Train);
        return Ok(Holds::Run(kind));
    }
    // Runs of loratune before the marker existed.
    if dir.join("recipe.toml").is_file() && dir.join("metrics.jsonl").is_file() {
        return Ok(Holds::Run(RunKind::Train));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.truncate(5);
    Ok(Holds::Other(names))
}

/// Makes `dir` ready for a new run of `kind`: created if missing; a previous run replaced
/// (moved aside, then deleted) when `overwrite` allows it; anything else refused before any
/// work starts. `inputs` are the job's inputs, which a replaced folder must not hold.
pub(crate) fn prepare(
    dir: &Path,
    kind: RunKind,
    overwrite: bool,
    inputs: &[(&str, &Path)],
) -> Result<()> {
    // The setting that names the folder, for the messages.
    let key = match kind {
        RunKind::Train => "train.output_dir",
        RunKind::Quickstart => "quickstart's --output",
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::file(
            dir,
            format!("{key} exists and is not a directory"),
        ));
    }
    cleanup::clean_leftovers(&dir::parent_of(dir));
    match holds(dir)? {
        Holds::Fresh => return Ok(()),
        Holds::Nothing => {}
        Holds::Other(names) => {
            return Err(Error::file(
                dir,
                format!(
                    "{key} is not empty and holds no loratune run (it has {}): \
                     loratune neither writes into nor replaces such a folder; choose another {key}",
                    names.join(", ")
                ),
            ))
        }
        Holds::Run(previous) => {
            let replace =
                overwrite || (kind == RunKind::Quickstart && previous == RunKind::Quickstart);
            if !replace {
                let advice = match kind {
                    RunKind::Train => {
                        "pass --overwrite (or set train.overwrite_output_dir = true) \
                                       to replace it, or choose another train.output_dir"
                    }
                    // quickstart replaces only runs it marked as its own (earlier versions
                    // marked none).
                    RunKind::Quickstart => {
                        "quickstart replaces only its own earlier output; \
                                            remove that folder or choose another --output"
                    }
                };
                return Err(Error::file(
                    dir,
                    format!("{key} holds a previous run: {advice}"),
                ));
            }
            guard::refuse_overlap(dir, inputs)?;
            remove_run(dir)?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let marker = Marker {
        kind,
        loratune_version: env!("CARGO_PKG_VERSION").into(),
    };
    let json = serde_json::to_string_pretty(&marker).map_err(|e| Error::Config(e.to_string()))?;
    super::write_atomic(&dir.join(RUN_MARKER), json.as_bytes())
}

/// Moves the previous run aside in one rename (so no mix of old and new can ever be seen)
/// and deletes it.
fn remove_run(dir: &Path) -> Result<()> {
    let aside: PathBuf = names::sibling(dir, names::Kind::Old);
    {
        let _live = cleanup::hold();
        std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
        let _ = std::fs::write(aside.join(names::PARTIAL_MARKER), b"");
    }
    tracing::info!("replacing the previous run in {}", dir.display());
    std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quickstart_refuses_a_run_it_did_not_mark_and_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        // A run of an earlier loratune (no marker).
        std::fs::write(dir.join("recipe.toml"), "").unwrap();
        std::fs::write(dir.join("metrics.jsonl"), "").unwrap();
        let err = prepare(&dir, RunKind::Quickstart, false, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("quickstart's --output holds a previous run")
                && err.contains("choose another --output")
                && !err.contains("--overwrite"),
            "{err}"
        );
        assert!(dir.join("recipe.toml").is_file());
        // Its own earlier output is replaced.
        std::fs::remove_dir_all(&dir).unwrap();
        prepare(&dir, RunKind::Quickstart, false, &[]).unwrap();
        std::fs::write(dir.join("metrics.jsonl"), "").unwrap();
        prepare(&dir, RunKind::Quickstart, false, &[]).unwrap();
        assert!(!dir.join("metrics.jsonl").exists());
    }
}
