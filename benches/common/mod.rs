//! What the benches share: where the Python reference interpreter and the shared data are.
//!
//! * Python: `LORATUNE_PYTHON`, else the reference environment's interpreter
//!   (`.venv/reference/bin/python` in the repository, made by `scripts/reference-env.sh`),
//!   else `python3` from `PATH`.
//! * Shared data and models: `LORATUNE_SHARED`, else `../shared` next to the repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the crate's manifest directory).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `LORATUNE_SHARED`, else `../shared` next to the repository.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("LORATUNE_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("..").join("shared"),
    }
}

/// The interpreter of a reference environment `.venv/<name>` inside the repository.
fn venv_python(name: &str) -> PathBuf {
    let venv = repo_root().join(".venv").join(name);
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// A Python interpreter and where the choice came from.
pub struct Python {
    pub program: PathBuf,
    /// e.g. "LORATUNE_PYTHON", ".venv/reference", "python3 on PATH"
    pub from: String,
}

impl Python {
    /// `program (from ...)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} (from {})", self.program.display(), self.from)
    }

    pub fn command(&self) -> Command {
        Command::new(&self.program)
    }

    /// Checks that the interpreter runs and imports `modules`; the error says what is missing
    /// and how to make the reference environment.
    pub fn probe(&self, modules: &[&str]) -> Result<(), String> {
        let hint = "make the reference environment with scripts/reference-env.sh, \
                    or point LORATUNE_PYTHON at an interpreter that has them";
        let out = self
            .command()
            .arg("-c")
            .arg(format!("import {}", modules.join(", ")))
            .output()
            .map_err(|e| format!("cannot run Python {}: {e}; {hint}", self.describe()))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!(
            "Python {} cannot import {}: {last}; {hint}",
            self.describe(),
            modules.join(", ")
        ))
    }
}

/// The reference interpreter: `LORATUNE_PYTHON`, else `.venv/reference`'s, else `python3`.
pub fn reference_python() -> Python {
    if let Some(p) = std::env::var_os("LORATUNE_PYTHON").filter(|p| !p.is_empty()) {
        return Python {
            program: PathBuf::from(p),
            from: "LORATUNE_PYTHON".into(),
        };
    }
    let venv = venv_python("reference");
    if venv.is_file() {
        return Python {
            program: venv,
            from: ".venv/reference".into(),
        };
    }
    Python {
        program: PathBuf::from("python3"),
        from: "python3 on PATH; no LORATUNE_PYTHON and no .venv/reference".into(),
    }
}

/// Prints that the reference side of a bench is skipped, and why.
pub fn print_skipped(side: &str, why: &str) {
    println!("{side} reference side skipped (loratune timed alone): {why}");
}
