//! Bad input never crashes: each case gives an error naming the file, line and field.
use loratune::data::dataset::ExampleFields;
use loratune::data::dataset::{classification_examples, seq2seq_examples};
use loratune::data::source::read_rows;
use loratune::recipe::DataSection;
use loratune::train::example_fields;
use std::path::Path;

fn data(extra: &str) -> ExampleFields {
    let section: DataSection = toml::from_str(&format!("train = \"x\"\n{extra}")).unwrap();
    example_fields(&section)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn classify(path: &Path, section: &ExampleFields) -> String {
    let labels = ["negative".to_string(), "positive".to_string()];
    read_rows(path)
        .and_then(|rows| classification_examples(&rows, section, Some(&labels), 2, path))
        .map(|e| format!("ok: {}", e.len()))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn each_bad_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let missing = d.join("nope.jsonl");
    assert!(classify(&missing, &data("")).contains("nope.jsonl: no such data file"));

    let malformed = write(
        d,
        "bad.jsonl",
        b"{\"text\": \"good\", \"label\": 1}\n{\"text\": oops}\n",
    );
    let err = classify(&malformed, &data(""));
    assert!(err.contains("bad.jsonl, line 2: malformed JSON"), "{err}");

    let binary = write(
        d,
        "latin1.jsonl",
        b"{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"caf\xe9\", \"label\": 0}\n",
    );
    let err = classify(&binary, &data(""));
    assert!(
        err.contains("latin1.jsonl, line 2: not valid UTF-8"),
        "{err}"
    );

    let unknown = write(d, "cols.jsonl", b"{\"review\": \"fine\", \"label\": 1}\n");
    let err = classify(&unknown, &data(""));
    assert!(
        err.contains("cols.jsonl, line 1: missing field 'text'"),
        "{err}"
    );

    let label = write(d, "labels.jsonl", b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \"neutral\"}\n{\"text\": \"c\", \"label\": 7}\n");
    let err = classify(&label, &data(""));
    assert!(
        err.contains("labels.jsonl, line 2: field 'label': unknown label 'neutral'"),
        "{err}"
    );

    let numbers = write(d, "range.jsonl", b"{\"text\": \"c\", \"label\": 7}\n");
    let err = classify(&numbers, &data(""));
    assert!(
        err.contains("range.jsonl, line 1: field 'label': label 7 is outside 0..2"),
        "{err}"
    );

    let empty = write(
        d,
        "empty.jsonl",
        b"{\"text\": \"  \", \"label\": 1}\n{\"text\": \"fine\", \"label\": \"positive\"}\n",
    );
    let err = classify(&empty, &data(""));
    assert!(
        err.contains("empty.jsonl, line 1: field 'text' is empty"),
        "{err}"
    );
    assert_eq!(classify(&empty, &data("skip_empty = true")), "ok: 1");

    let prompt = write(
        d,
        "prompt.jsonl",
        b"{\"dialogue\": \"A: hi\", \"summary\": \"greeting\"}\n",
    );
    let err = read_rows(&prompt)
        .and_then(|rows| {
            seq2seq_examples(
                &rows,
                &data("prompt = \"{dialog}\"\ntarget_field = \"summary\""),
                &prompt,
            )
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prompt.jsonl, line 1: missing field 'dialog' (used in the prompt)"),
        "{err}"
    );
}

#[test]
fn csv_json_and_parquet_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let csv = write(
        d,
        "t.csv",
        b"text,label\n\"hello, world\",positive\nbye,0\n",
    );
    assert_eq!(classify(&csv, &data("")), "ok: 2");
    let bad_csv = write(d, "u.csv", b"text,label\nhello,positive,extra\n");
    assert!(
        classify(&bad_csv, &data("")).contains("u.csv, line 2"),
        "{}",
        classify(&bad_csv, &data(""))
    );
    let json = write(
        d,
        "t.json",
        b"[{\"text\": \"a\", \"label\": 1}, {\"text\": \"b\", \"label\": 0}]",
    );
    assert_eq!(classify(&json, &data("")), "ok: 2");
    let parquet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/imdb_sample.parquet");
    assert_eq!(classify(&parquet, &data("")), "ok: 5");
    let other = write(d, "t.xlsx", b"");
    assert!(classify(&other, &data("")).contains("unsupported data format '.xlsx'"));
}

#[test]
fn hub_dataset_from_the_cache_layout() {
    use loratune::data::hub_dataset::{resolve_with, DatasetSpec};
    let tmp = tempfile::tempdir().unwrap();
    // Offline, so that nothing is asked of any Hub: the cache alone answers.
    let cache_dir = tmp.path().to_str().unwrap().to_string();
    let settings = loratune::hub::Settings::from_vars(|name| match name {
        "HF_HUB_OFFLINE" => Some("1".into()),
        "HF_HUB_CACHE" => Some(cache_dir.clone()),
        _ => None,
    })
    .unwrap();
    let resolve = |spec: &DatasetSpec, _: Option<std::path::PathBuf>| resolve_with(spec, &settings);
    let repo = tmp.path().join("datasets--someone--imdb-mini");
    let snapshot = repo.join("snapshots/0123abcd/plain_text");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    let parquet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/imdb_sample.parquet");
    std::fs::copy(&parquet, snapshot.join("test-00000-of-00001.parquet")).unwrap();
    std::fs::write(snapshot.join("train-00000-of-00001.parquet"), b"not used").unwrap();
    let spec = DatasetSpec::parse("hf:someone/imdb-mini:test")
        .unwrap()
        .unwrap();
    let files = resolve(&spec, Some(tmp.path().to_path_buf())).unwrap();
    assert_eq!(files, vec![snapshot.join("test-00000-of-00001.parquet")]);
    assert_eq!(classify(&files[0], &data("")), "ok: 5");
    let missing = DatasetSpec::parse("hf:someone/imdb-mini:validation")
        .unwrap()
        .unwrap();
    let err = resolve(&missing, Some(tmp.path().to_path_buf()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no data files for split 'validation'")
            && err.contains("revision 'refs/convert/parquet' is not in the cache")
            && err.contains("HF_HUB_OFFLINE is set"),
        "{err}"
    );
}

#[test]
fn windows_files_and_float_labels_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let labels = ["negative".to_string(), "positive".to_string()];
    let read = |path: &Path| {
        read_rows(path)
            .and_then(|rows| classification_examples(&rows, &data(""), Some(&labels), 2, path))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|e| (e.text, e.label))
            .collect::<Vec<_>>()
    };
    let want = vec![("good".to_string(), 1), ("bad".to_string(), 0)];
    // A byte-order mark and CRLF line ends, as Windows editors write them.
    let jsonl = write(
        d,
        "bom.jsonl",
        b"\xef\xbb\xbf{\"text\": \"good\", \"label\": 1}\r\n{\"text\": \"bad\", \"label\": 0}\r\n",
    );
    assert_eq!(read(&jsonl), want);
    let json = write(
        d,
        "bom.json",
        b"\xef\xbb\xbf[{\"text\": \"good\", \"label\": 1},\r\n{\"text\": \"bad\", \"label\": 0}]\r\n",
    );
    assert_eq!(read(&json), want);
    let csv = write(
        d,
        "bom.csv",
        b"\xef\xbb\xbftext,label\r\ngood,1\r\nbad,0\r\n",
    );
    assert_eq!(read(&csv), want);
    // 1.0 is label 1; 0.5 and -1.0 are not labels.
    let floats = write(
        d,
        "floats.jsonl",
        b"{\"text\": \"good\", \"label\": 1.0}\n{\"text\": \"bad\", \"label\": 0.0}\n",
    );
    assert_eq!(read(&floats), want);
    for bad in ["0.5", "-1.0", "2.0"] {
        let path = write(
            d,
            "bad_float.jsonl",
            format!("{{\"text\": \"x\", \"label\": {bad}}}\n").as_bytes(),
        );
        let err = classify(&path, &data(""));
        assert!(err.contains("line 1: field 'label': label"), "{bad}: {err}");
    }
}
