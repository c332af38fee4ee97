//! One output directory written as a whole: files go into a temporary sibling, which is
//! synced and then swapped into place. On any failure the temporary goes and the previous
//! directory stays (or is put back); nothing is deleted that loratune did not write.
use super::{cleanup, guard, names};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What may already stand where the output goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Replace {
    /// Nothing but an empty directory (only the tests ask for it).
    #[cfg(test)]
    Never,
    /// A previous output of the same kind, recognised by this file in it (e.g.
    /// `adapter_config.json` for an adapter, a marker file for a merged model).
    IfHolds(&'static str),
}

impl Replace {
    /// Refuses a `target` that this policy may not replace; a missing target or an empty
    /// directory is always fine. Callers check early, before any work, and the swap checks
    /// again.
    pub(crate) fn check(self, target: &Path) -> Result<()> {
        guard::refuse_overlap(target, &[])?;
        let meta = match std::fs::symlink_metadata(target) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(target, e)),
        };
        if !meta.is_dir() {
            return Err(Error::file(
                target,
                "exists and is not a directory: choose another output directory",
            ));
        }
        if is_empty_dir(target)? {
            return Ok(());
        }
        match self {
            Replace::IfHolds(marker) if target.join(marker).is_file() => Ok(()),
            Replace::IfHolds(marker) => Err(Error::file(
                target,
                format!(
                    "exists, is not empty and is not a previous output of this kind (it has no {marker}): \
                     loratune will not replace it; choose another output directory or empty this one"
                ),
            )),
            #[cfg(test)]
            Replace::Never => Err(Error::file(
                target,
                "exists and is not empty: loratune will not replace it; choose another output directory",
            )),
        }
    }
}

pub(crate) fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
        .is_none())
}

/// The folder `path` lives in (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The plain word for an I/O error that means the output does not fit (full disk, file size
/// limit, quota), if it is one.
fn no_room(e: &std::io::Error) -> Option<&'static str> {
    match e.raw_os_error()? {
        libc::ENOSPC => Some("no space left on device (the disk is full)"),
        libc::EFBIG => Some("file too large (over the file size limit)"),
        libc::EDQUOT => Some("disk quota exceeded"),
        _ => None,
    }
}

/// An I/O error while writing, with a plain word for the full-disk cases.
pub(crate) fn write_error(path: &Path, e: std::io::Error) -> Error {
    match no_room(&e) {
        Some(word) => Error::file(path, word),
        None => Error::io(path, e),
    }
}

/// The I/O error somewhere under `error` (candle wraps safetensors', which wraps the OS's).
fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

/// Best effort: makes a rename in `folder` durable.
pub(crate) fn sync_folder(folder: &Path) {
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
}

fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| write_error(&path, e))?;
        }
    }
    sync_folder(dir);
    Ok(())
}

/// An output directory being written. Write into [`AtomicDir::path`], then
/// [`AtomicDir::commit`]; dropping it uncommitted removes everything it wrote.
pub(crate) struct AtomicDir {
    target: PathBuf,
    temp: PathBuf,
    replace: Replace,
    committed: bool,
}

impl AtomicDir {
    pub(crate) fn begin(target: &Path, replace: Replace) -> Result<Self> {
        replace.check(target)?;
        let folder = parent_of(target);
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
        cleanup::clean_leftovers(&folder);
        let temp = names::sibling(target, names::Kind::Temp);
        cleanup::create_registered(&temp, |p| std::fs::create_dir(p))
            .map_err(|e| write_error(&temp, e))?;
        let dir = Self {
            target: target.to_path_buf(),
            temp,
            replace,
            committed: false,
        };
        std::fs::write(dir.temp.join(names::PARTIAL_MARKER), b"")
            .map_err(|e| write_error(&dir.temp, e))?;
        Ok(dir)
    }

    /// Where to write the files (the temporary directory until the commit).
    pub(crate) fn path(&self) -> &Path {
        &self.temp
    }

    /// Writes one file of the output.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.temp.join(name);
        std::fs::write(&path, bytes).map_err(|e| write_error(&path, e))
    }

    /// Writes tensors as `name` in safetensors format, with the metadata PyTorch's writers put
    /// there (`{"format": "pt"}`, as PEFT's and Transformers' `save_pretrained`).
    pub(crate) fn write_tensors(
        &self,
        name: &str,
        tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    ) -> Result<()> {
        let path = self.temp.join(name);
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(tensors.iter(), Some(metadata), &path).map_err(|e| {
            match io_cause(&e).and_then(|io| io.raw_os_error()) {
                Some(code) => write_error(&path, std::io::Error::from_raw_os_error(code)),
                None => Error::file(&path, e.to_string()),
            }
        })
    }

    /// Copies a file into the output under its own name.
    pub(crate) fn copy_in(&self, source: &Path) -> Result<()> {
        let Some(name) = source.file_name() else {
            return Ok(());
        };
        let dest = self.temp.join(name);
        // A failure to fit is the destination's; any other, the source's.
        std::fs::copy(source, &dest).map_err(|e| match no_room(&e) {
            Some(word) => Error::file(&dest, word),
            None => Error::io(source, e),
        })?;
        Ok(())
    }

    /// Syncs everything and swaps the output into place. The previous directory is moved
    /// aside first and put back if the swap fails; it is deleted only once the new one stands.
    pub(crate) fn commit(mut self) -> Result<()> {
        std::fs::remove_file(self.temp.join(names::PARTIAL_MARKER))
            .map_err(|e| Error::io(&self.temp, e))?;
        sync_tree(&self.temp)?;
        // No interrupt cleanup while the two renames are under way.
        let mut live = cleanup::hold();
        self.replace.check(&self.target)?;
        let old = if self.target.exists() {
            if is_empty_dir(&self.target)? {
                std::fs::remove_dir(&self.target).map_err(|e| Error::io(&self.target, e))?;
                None
            } else {
                let old = names::sibling(&self.target, names::Kind::Old);
                std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
                // Marks it as ours, so that a later run may remove it if we die now.
                let _ = std::fs::write(old.join(names::PARTIAL_MARKER), b"");
                Some(old)
            }
        } else {
            None
        };
        if let Err(e) = swap_in(&self.temp, &self.target) {
            if let Some(old) = &old {
                if std::fs::rename(old, &self.target).is_ok() {
                    let _ = std::fs::remove_file(self.target.join(names::PARTIAL_MARKER));
                }
            }
            return Err(Error::io(&self.target, e));
        }
        self.committed = true;
        cleanup::unregister(&mut live, &self.temp);
        sync_folder(&parent_of(&self.target));
        if let Some(old) = old {
            if let Err(e) = std::fs::remove_dir_all(&old) {
                tracing::warn!(
                    "could not remove the previous version {}: {e}",
                    old.display()
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
thread_local! {
    /// Makes this thread's next swap fail, as a full or vanished disk would.
    static FAIL_SWAP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn swap_in(temp: &Path, target: &Path) -> std::io::Result<()> {
    #[cfg(test)]
    if FAIL_SWAP.with(|f| f.get()) {
        return Err(std::io::Error::other("injected failure"));
    }
    std::fs::rename(temp, target)
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
            cleanup::unregister(&mut cleanup::hold(), &self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_swaps_and_a_drop_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let out = AtomicDir::begin(&target, Replace::IfHolds("a.txt")).unwrap();
        out.write("a.txt", b"one").unwrap();
        assert!(!target.exists(), "visible before the commit");
        out.commit().unwrap();
        assert_eq!(listing(&target), ["a.txt"]);
        let out = AtomicDir::begin(&target, Replace::IfHolds("a.txt")).unwrap();
        out.write("a.txt", b"two").unwrap();
        drop(out);
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"one");
        assert_eq!(listing(tmp.path()), ["out"]);
    }

    #[test]
    fn a_failed_swap_puts_the_previous_directory_back() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("adapter");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("a.txt"), b"previous").unwrap();
        let out = AtomicDir::begin(&target, Replace::IfHolds("a.txt")).unwrap();
        out.write("a.txt", b"new").unwrap();
        FAIL_SWAP.with(|f| f.set(true));
        let result = out.commit();
        FAIL_SWAP.with(|f| f.set(false));
        assert!(result.is_err());
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"previous");
        assert_eq!(listing(&target), ["a.txt"]);
        assert_eq!(listing(tmp.path()), ["adapter"]);
    }

    #[test]
    fn refuses_what_it_may_not_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("mine.txt"), b"x").unwrap();
        let err = AtomicDir::begin(&user, Replace::IfHolds("summary.json"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("has no summary.json"), "{err}");
        let err = AtomicDir::begin(&user, Replace::Never)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        assert_eq!(listing(tmp.path()), ["user"]);
        assert_eq!(listing(&user), ["mine.txt"]);
    }

    #[test]
    fn leftovers_of_dead_processes_are_cleaned_and_others_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let dir = |name: &str, marked: bool| {
            let path = tmp.path().join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("data"), b"d").unwrap();
            if marked {
                std::fs::write(path.join(names::PARTIAL_MARKER), b"").unwrap();
            }
        };
        dir(&format!(".ckpt.tmp-{dead}-0"), true); // a dead writer's partial output: removed
        dir(&format!(".user.tmp-{dead}-0"), false); // no marker: kept
        dir(&format!(".live.tmp-{}-0", std::process::id()), true); // alive: kept
        dir(&format!(".adapter.old-{dead}-1"), true); // its output is missing: restored
        std::fs::write(tmp.path().join(format!(".f.jsonl.tmp-{dead}-2")), b"half").unwrap();
        cleanup::clean_leftovers(tmp.path());
        let mut want = vec![
            "adapter".to_string(),
            format!(".live.tmp-{}-0", std::process::id()),
            format!(".user.tmp-{dead}-0"),
        ];
        want.sort();
        assert_eq!(listing(tmp.path()), want);
        assert_eq!(listing(&tmp.path().join("adapter")), ["data"]);
    }
}
