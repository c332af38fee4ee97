//! Names of the temporary siblings an output passes through: `.NAME.tmp-PID-N` while it is
//! written and `.NAME.old-PID-N` for the previous version during a swap. The PID says whether
//! the writer is still alive, so a later run can tell a dead process's leftovers from work
//! in progress.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Written into every temporary directory as it is created: only directories holding it are
/// ever removed as leftovers, so a folder loratune did not make is never deleted.
pub(crate) const PARTIAL_MARKER: &str = ".loratune-partial";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Temp,
    Old,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Temp => "tmp",
            Kind::Old => "old",
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh sibling of `target` of the given kind, unique within this process.
pub(crate) fn sibling(target: &Path, kind: Kind) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}-{}-{n}", kind.tag(), std::process::id()))
}

/// A leftover sibling: the name of the output it belongs to, its kind and its writer's PID.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub(crate) target_name: String,
    pub(crate) kind: Kind,
    pub(crate) pid: u32,
}

pub(crate) fn parse(file_name: &str) -> Option<Leftover> {
    let rest = file_name.strip_prefix('.')?;
    // The tag that comes last: a target's own name may contain `.tmp-` too.
    let (at, kind, tag) = [Kind::Temp, Kind::Old]
        .into_iter()
        .filter_map(|kind| {
            let tag = format!(".{}-", kind.tag());
            rest.rfind(&tag).map(|at| (at, kind, tag))
        })
        .max_by_key(|(at, _, _)| *at)?;
    let (target_name, tail) = (&rest[..at], &rest[at + tag.len()..]);
    let (pid, n) = tail.split_once('-')?;
    if target_name.is_empty() || n.parse::<usize>().is_err() {
        return None;
    }
    Some(Leftover {
        target_name: target_name.to_string(),
        kind,
        pid: pid.parse().ok()?,
    })
}

/// Whether process `pid` still runs. Where this cannot be told, every writer counts as alive
/// (nothing is cleaned rather than something in use).
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_parse_back() {
        let temp = sibling(Path::new("runs/x/adapter"), Kind::Temp);
        let name = temp.file_name().unwrap().to_str().unwrap();
        let left = parse(name).unwrap();
        assert_eq!(left.target_name, "adapter");
        assert_eq!(left.kind, Kind::Temp);
        assert_eq!(left.pid, std::process::id());
        let old = sibling(Path::new("model.tmp-3"), Kind::Old);
        let left = parse(old.file_name().unwrap().to_str().unwrap()).unwrap();
        assert_eq!(
            (left.target_name.as_str(), left.kind),
            ("model.tmp-3", Kind::Old)
        );
        for other in [
            "adapter",
            ".adapter",
            ".adapter.tmp-",
            ".adapter.tmp-12",
            ".x.tmp-a-1",
            ".tmp-1-2",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
