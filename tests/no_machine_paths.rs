//! No file of the repository names an absolute path of one machine: a working directory under
//! the root of the file system, a home directory (Linux, macOS, the root user's) or a Windows
//! drive. Benches, scripts, docs and recorded fixture metadata say `../shared`, `.venv/reference`
//! or an environment variable instead (see "Reference environments" in the README).
//!
//! The files are those git tracks (`git ls-files`); without git (or outside a checkout) the tree
//! is walked, skipping build outputs, git's own directory, the Python environments and runs/. Binary
//! files (a NUL byte) are not read. The test fails when it finds nothing to scan.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The needles, built so that this file does not contain them.
fn needles() -> Vec<String> {
    vec![
        concat!("/wo", "rk/").to_string(),
        concat!("/ro", "ot/").to_string(),
        concat!("/ho", "me/").to_string(),
        concat!("/Us", "ers/").to_string(),
        concat!("C:", "\\").to_string(),
    ]
}

/// Never scanned when walking the tree (`.git` is a file in a worktree).
const SKIP_DIRS: &[&str] = &["target", ".git", ".venv", "runs"];

fn tracked_files(root: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let files: Vec<PathBuf> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
        // tracked but deleted in the working tree
        .filter(|path| path.is_file())
        .collect();
    (!files.is_empty()).then_some(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        if SKIP_DIRS.iter().any(|skip| name == *skip) {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            walk(&path, files);
        } else if kind.is_file() {
            files.push(path);
        }
    }
}

/// Whether `needle` occurs in `line` as the start of a path.
fn hits(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(at, _)| {
        if !needle.ends_with('\\') {
            return true;
        }
        // a drive letter: not the end of a word (`topic:\n` is no path)
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Scans `files`; panics naming file and line for every machine path, or when nothing was scanned.
fn check(root: &Path, files: &[PathBuf], how: &str) {
    assert!(
        !files.is_empty(),
        "no file to scan under {} ({how}): the check would pass without looking",
        root.display()
    );
    let needles = needles();
    let mut scanned = 0usize;
    let mut found = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if bytes.contains(&0) {
            continue;
        }
        scanned += 1;
        let text = String::from_utf8_lossy(&bytes);
        for (number, line) in text.lines().enumerate() {
            for needle in &needles {
                if hits(line, needle) {
                    let shown: String = line.trim().chars().take(160).collect();
                    found.push(format!(
                        "{}:{}: {needle}: {shown}",
                        path.strip_prefix(root).unwrap_or(path).display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        scanned > 0,
        "{} files found ({how}) but none of them is text: nothing was scanned",
        files.len()
    );
    assert!(
        found.is_empty(),
        "absolute paths of one machine in {} place(s) (use ../shared, .venv/reference or an \
         environment variable; see the README's \"Reference environments\"):\n{}",
        found.len(),
        found.join("\n")
    );
    println!("{scanned} text files scanned ({how}), no machine path");
}

fn walked(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(root, &mut files);
    files
}

#[test]
fn no_absolute_machine_paths_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match tracked_files(root) {
        Some(files) => check(root, &files, "git ls-files"),
        None => check(root, &walked(root), "walking the tree, no git checkout"),
    }
}

/// The walk used without git finds this file and skips what it should.
#[test]
fn the_walk_without_git_sees_the_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = walked(root);
    assert!(files
        .iter()
        .any(|f| f.ends_with("tests/no_machine_paths.rs")));
    assert!(files.iter().any(|f| f.ends_with("Cargo.toml")));
    for f in &files {
        let rel = f.strip_prefix(root).unwrap();
        let first = rel.components().next().unwrap().as_os_str();
        assert!(
            !SKIP_DIRS.iter().any(|skip| first == *skip),
            "{} should be skipped",
            rel.display()
        );
    }
}

#[test]
fn the_needles_find_what_they_should() {
    let n = needles();
    let line = |prefix: &str, rest: &str| format!("{prefix}{rest}");
    assert!(hits(&line(&n[0], "venv/bin/python"), &n[0]));
    assert!(hits(&line("model (", &format!("{}x/shared)", n[2])), &n[2]));
    assert!(hits(
        &line("path = \"", &format!("{}Users\\me\"", n[4])),
        &n[4]
    ));
    assert!(!hits("println!(\"ABC:\\n\")", &n[4]));
    assert!(!hits("../shared/models/all-MiniLM-L6-v2", &n[0]));
}
