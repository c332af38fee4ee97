//! One output file written atomically: into a temporary sibling, synced, renamed into place.
use super::{cleanup, names};
use crate::error::{Error, Result};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes rows or bytes to `target` atomically: a failure or an interrupt never leaves a
/// half-written output, and the previous file stays until the new one is complete.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<std::fs::File>>,
    done: bool,
}

/// A file output cannot go where a folder stands.
pub(crate) fn refuse_folder(target: &Path) -> Result<()> {
    if target.is_dir() {
        return Err(Error::file(
            target,
            "is a directory: give a file name for the output",
        ));
    }
    Ok(())
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<Self> {
        let folder = super::dir::parent_of(target);
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
        refuse_folder(target)?;
        cleanup::clean_leftovers(&folder);
        let temp = names::sibling(target, names::Kind::Temp);
        let file = cleanup::create_registered(&temp, |p| std::fs::File::create(p))
            .map_err(|e| super::dir::write_error(&temp, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            out: Some(BufWriter::new(file)),
            done: false,
        })
    }

    fn out(&mut self) -> &mut BufWriter<std::fs::File> {
        self.out.as_mut().expect("AtomicFile used after finish")
    }

    pub fn write_json(&mut self, value: &Value) -> Result<()> {
        let temp = self.temp.clone();
        serde_json::to_writer(self.out(), value).map_err(|e| Error::file(&temp, e.to_string()))?;
        self.write_bytes(b"\n")
    }

    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let temp = self.temp.clone();
        self.out()
            .write_all(bytes)
            .map_err(|e| super::dir::write_error(&temp, e))
    }

    /// Syncs the file and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        let out = self.out.take().expect("AtomicFile finished twice");
        let file = out
            .into_inner()
            .map_err(|e| super::dir::write_error(&self.temp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| super::dir::write_error(&self.temp, e))?;
        let mut live = cleanup::hold();
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        cleanup::unregister(&mut live, &self.temp);
        self.done = true;
        drop(live);
        super::dir::sync_folder(&super::dir::parent_of(&self.target));
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            self.out = None;
            let _ = std::fs::remove_file(&self.temp);
            cleanup::unregister(&mut cleanup::hold(), &self.temp);
        }
    }
}

/// Writes a whole file atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut writer = AtomicFile::create(path)?;
    writer.write_bytes(bytes)?;
    writer.finish()
}
