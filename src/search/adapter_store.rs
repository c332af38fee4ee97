//! The study's best adapter, kept in its database: a finished trial's adapter (a few MB) is
//! stored when it is the best so far, replacing the previous best, so that any worker or
//! `search --report` on any machine writes `best/adapter/` from the database alone.
use super::storage::{AdapterFile, Storage};
use super::trial::Trial;
use crate::error::{Error, Result};
use crate::output::{AtomicDir, Replace};
use std::path::Path;

/// The files of an adapter folder (`adapter_config.json`, `adapter_model.safetensors`, ...).
fn read_adapter(dir: &Path) -> Result<Vec<AdapterFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// Stores trial `number`'s adapter (in `dir`) if the trial is now the study's best, as
/// `best` picks it from the trials.
pub(crate) fn store_if_best(
    db: &mut dyn Storage,
    study: &str,
    number: u64,
    dir: &Path,
    best: &dyn Fn(&[Trial]) -> Option<u64>,
) -> Result<bool> {
    if !dir.join("adapter_config.json").is_file() {
        return Ok(false);
    }
    let files = read_adapter(dir)?;
    db.keep_adapter_if_best(study, number, &files, best)
}

/// Writes adapter files as the folder `target`, whole (a previous adapter there is replaced).
pub(crate) fn write_adapter(target: &Path, files: &[AdapterFile]) -> Result<()> {
    let out = AtomicDir::begin(target, Replace::IfHolds("adapter_config.json"))?;
    for (name, bytes) in files {
        out.write(name, bytes)?;
    }
    out.commit()
}

/// Copies the adapter folder `source` to `target`, whole.
pub(crate) fn copy_adapter(source: &Path, target: &Path) -> Result<()> {
    write_adapter(target, &read_adapter(source)?)
}
