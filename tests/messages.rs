//! Refusals read once: an OS error's text ("… (os error 2)") is printed at most once, however
//! many layers the error passed through, and the message names the file.
mod common;
use common::*;

#[test]
fn os_errors_are_not_repeated() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.jsonl");
    let missing = missing.to_str().unwrap();
    // a folder where a file is expected: read fails with "Is a directory (os error 21)"
    let folder = tmp.path().join("a-folder.toml");
    std::fs::create_dir_all(&folder).unwrap();
    let folder = folder.to_str().unwrap();
    let out = tmp.path().join("out.jsonl");
    let out = out.to_str().unwrap();
    let t5 = fixtures().join("t5/flan_like");
    let t5 = t5.to_str().unwrap();
    let bert = fixtures().join("bert/cls2");
    let bert = bert.to_str().unwrap();
    let merged = tmp.path().join("merged");
    let merged = merged.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", missing], missing),
        (vec!["run", missing], missing),
        (vec!["train", folder], folder),
        (
            vec![
                "generate", "--model", t5, "--input", missing, "--output", out,
            ],
            missing,
        ),
        (
            vec!["loss", "--model", t5, "--input", missing, "--output", out],
            missing,
        ),
        (
            vec![
                "classify", "--model", bert, "--input", missing, "--output", out,
            ],
            missing,
        ),
        (vec!["score", "--input", missing, "--output", out], missing),
        (
            vec!["adapter", "check", "--model", t5, "--adapter", missing],
            missing,
        ),
        (
            vec![
                "merge",
                "--model",
                t5,
                "--adapter",
                missing,
                "--output",
                merged,
            ],
            missing,
        ),
    ];
    for (args, path) in cases {
        let err = refused(&args);
        assert!(
            err.matches("(os error").count() <= 1,
            "{args:?} repeats the OS error: {err}"
        );
        assert!(err.contains(path), "{args:?} does not name {path}: {err}");
    }
}
