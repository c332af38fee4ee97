//! Free space before a large download: better refused at the start, naming the sizes, than
//! stopped by a full disk half-way.
use crate::error::{Error, Result};
use std::path::Path;

/// Bytes available to this user on the filesystem holding `dir` (`None` where unknown).
#[cfg(unix)]
pub(crate) fn available(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let free = stats.f_bavail as u64 * stats.f_frsize as u64;
    Some(free)
}

#[cfg(not(unix))]
pub(crate) fn available(_dir: &Path) -> Option<u64> {
    None
}

/// Refuses a download of `needed` more bytes into `dir` when the disk has less free.
pub(crate) fn check(dir: &Path, needed: u64, what: &str) -> Result<()> {
    match available(dir) {
        Some(free) if free < needed => Err(Error::file(
            dir,
            format!(
                "not enough disk space to download {what}: it needs {} more, {} are free \
                 (free some space or point HF_HUB_CACHE elsewhere)",
                megabytes(needed),
                megabytes(free)
            ),
        )),
        _ => Ok(()),
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_than_the_disk_has() {
        let dir = tempfile::tempdir().unwrap();
        let free = available(dir.path()).expect("statvfs answers for a temp dir");
        assert!(free > 0);
        check(dir.path(), 1, "a byte").unwrap();
        let err = check(dir.path(), u64::MAX, "model.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not enough disk space to download model.safetensors"),
            "{err}"
        );
    }
}
