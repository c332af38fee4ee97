//! Checking, before any work, that an output can be written where it is asked for: the
//! nearest existing folder above it is a folder, and a probe file can be made (and removed)
//! there. Nothing is created that outlives the check.
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What will be written at the checked path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A single file (e.g. `generate --output`).
    File,
    /// A folder (e.g. `train.output_dir`).
    Dir,
}

/// Refuses `target` when it cannot be written: a file output that is a folder, a folder
/// output that is a file, a path under a regular file, or a folder where no file can be made.
pub fn check_writable(target: &Path, kind: Output) -> Result<()> {
    match kind {
        Output::File => super::file::refuse_folder(target)?,
        Output::Dir if target.exists() && !target.is_dir() => {
            return Err(Error::file(
                target,
                "is not a folder: the output folder cannot be made here",
            ))
        }
        _ => {}
    }
    let start = match kind {
        Output::Dir if target.is_dir() => target.to_path_buf(),
        _ => super::dir::parent_of(target),
    };
    let folder = nearest_existing(&start);
    if !folder.is_dir() {
        return Err(Error::file(
            &folder,
            format!("is not a folder, so {} cannot be written", target.display()),
        ));
    }
    let probe = folder.join(format!(".loratune-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::file(
            &folder,
            format!(
                "cannot write here ({e}), so {} cannot be written",
                target.display()
            ),
        )),
    }
}

/// `path` or its nearest ancestor that exists (`.` for a relative path with none).
fn nearest_existing(path: &Path) -> PathBuf {
    let mut current = path;
    loop {
        if current.symlink_metadata().is_ok() {
            return current.to_path_buf();
        }
        match current.parent() {
            Some(p) if !p.as_os_str().is_empty() => current = p,
            _ => return PathBuf::from("."),
        }
    }
}
