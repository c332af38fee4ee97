//! Temporary outputs of this process, removed when the user interrupts it (Ctrl-C, SIGTERM,
//! SIGHUP) and, when a process died without that chance, by the next writer in the same folder.
use super::names::{self, Kind, PARTIAL_MARKER};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether an interrupt is being handled: the process is about to exit with 130, and an
/// error that its cleanup caused elsewhere (a vanished temporary) is not worth reporting.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The registry; held during a swap so that an interrupt waits until the swap is whole.
pub(crate) fn hold() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates a temporary output with `create` and registers it, under the lock: once an
/// interrupt has cleaned up, no new temporary can appear before the process exits.
pub(crate) fn create_registered<T>(
    path: &Path,
    create: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut live = hold();
    let made = create(path)?;
    live.push(path.to_path_buf());
    Ok(made)
}

pub(crate) fn unregister(live: &mut Vec<PathBuf>, path: &Path) {
    live.retain(|p| p != path);
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes a temporary that another thread may still be writing into: a file created while
/// the directory is emptied makes its removal fail, so it is tried again (once the directory
/// is gone, the writer's next file fails instead).
fn remove_racing_writer(path: &Path) {
    for _ in 0..1000 {
        remove(path);
        if std::fs::symlink_metadata(path).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Removes every temporary output of this process and exits with `code`, holding the
/// registry until the end so that no writer can start a new temporary meanwhile.
fn remove_live_and_exit(code: i32) -> ! {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let mut live = hold();
    for path in live.drain(..) {
        remove_racing_writer(&path);
    }
    eprintln!("interrupted: nothing half-written was left behind");
    std::process::exit(code)
}

/// Installs the interrupt handler: temporary outputs are removed and the process exits with
/// 130, as a shell reports Ctrl-C. Completed outputs are never touched.
pub(crate) fn install_interrupt_handler() {
    let installed = ctrlc::set_handler(|| remove_live_and_exit(130));
    if let Err(e) = installed {
        tracing::warn!("no interrupt handler ({e}): Ctrl-C may leave temporary outputs");
    }
}

/// Cleans what dead processes left in `folder`: temporary directories (recognised by their
/// marker) and files are removed; a previous version moved aside during a swap is put back
/// when its output is missing, else removed.
pub(crate) fn clean_leftovers(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(left) = name.to_str().and_then(names::parse) else {
            continue;
        };
        if names::process_alive(left.pid) {
            continue;
        }
        let path = entry.path();
        let target = folder.join(&left.target_name);
        let is_dir = path.is_dir();
        match left.kind {
            Kind::Temp if !is_dir => remove(&path),
            Kind::Temp if path.join(PARTIAL_MARKER).exists() => {
                tracing::info!("removing {} left by a dead process", path.display());
                remove(&path);
            }
            Kind::Old if !target.exists() => {
                tracing::warn!(
                    "restoring {} from {} (a process died while replacing it)",
                    target.display(),
                    path.display()
                );
                if std::fs::rename(&path, &target).is_ok() {
                    let _ = std::fs::remove_file(target.join(PARTIAL_MARKER));
                }
            }
            Kind::Old if path.join(PARTIAL_MARKER).exists() => remove(&path),
            _ => tracing::warn!(
                "leaving {}: it looks like a leftover but holds no loratune marker",
                path.display()
            ),
        }
    }
}
