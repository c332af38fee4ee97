//! One model handle: the kind of a model is decided once, from config.json; a model of the
//! wrong kind or an architecture loratune does not implement is refused by name.
mod common;
use common::*;
use std::process::Command;

fn stderr_of(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(args)
        .output()
        .expect("loratune runs");
    assert!(!out.status.success(), "loratune {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_classifier_given_to_generate_or_loss_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixtures().join("distilbert/cls2");
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, "{\"source\": \"hi\", \"target\": \"yo\"}\n").unwrap();
    let out = tmp.path().join("out.jsonl");
    for command in ["generate", "loss"] {
        let err = stderr_of(&[
            command,
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(
            err.contains("is a sequence classifier") && err.contains("not a seq2seq model"),
            "{command}: {err}"
        );
        assert!(
            !err.contains("d_model") && !err.contains("panicked"),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn an_unsupported_architecture_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("llama");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(fixtures().join("t5/flan_like")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    let mut config = read_json(&model.join("config.json"));
    config["model_type"] = "llama".into();
    config["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    let input = fixtures().join("t5/flan_like/inputs.jsonl");
    let err = stderr_of(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        tmp.path().join("o.jsonl").to_str().unwrap(),
    ]);
    assert!(
        err.contains("model_type 'llama' (LlamaForCausalLM) is not supported")
            && err.contains("t5, bert, distilbert"),
        "{err}"
    );
}

#[test]
fn both_kinds_open_through_one_function() {
    use loratune::models::{open, Kind, Options};
    for (dir, kind) in [
        ("t5/flan_like", Kind::Seq2Seq),
        ("distilbert/cls2", Kind::Classifier),
        ("bert/cls2", Kind::Classifier),
    ] {
        let files = loratune::hub::resolve_model(fixtures().join(dir).to_str().unwrap()).unwrap();
        let opened = open(&files, &Options::default()).unwrap();
        assert_eq!(opened.model.kind(), kind, "{dir}");
        let wrong = match kind {
            Kind::Seq2Seq => Kind::Classifier,
            Kind::Classifier => Kind::Seq2Seq,
        };
        let options = Options {
            expect: Some(wrong),
            ..Default::default()
        };
        assert!(open(&files, &options).is_err(), "{dir}");
    }
}
