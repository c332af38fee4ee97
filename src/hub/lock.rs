//! The download lock, in Python's place (`HF_HUB_CACHE/.locks/<repo folder>/<etag>.lock`) and
//! of Python's kind (`filelock` takes `flock` on Unix, as `File::lock` does), so loratune and a
//! Python process downloading the same file at once take turns. A second process waits for the
//! first, however long, as Python's does, then finds the blob in place.
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Held until dropped (closing the file releases the lock).
pub(crate) struct DownloadLock {
    _file: File,
}

pub(crate) fn acquire(path: &Path, what: &str) -> Result<DownloadLock> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        // As Python's lock: group-writable, so users sharing a cache can wait on each other.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o664);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!(
                "another process is downloading {what}; waiting for it (lock {})",
                path.display()
            );
            file.lock().map_err(|e| Error::io(path, e))?;
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
    }
    Ok(DownloadLock { _file: file })
}
