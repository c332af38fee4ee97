//! `train.report_to = ["tensorboard"]` on a tiny fixture classifier: the event files are read
//! back by a reader written here from TensorFlow's record format (both CRC-32Cs checked, the
//! `Event` protobuf decoded by hand), their scalars must equal `metrics.jsonl`; the run also
//! draws `training.png`/`.svg`, `loratune plot` overlays runs, and a log piped to a file
//! carries no ANSI colour codes. `scripts/check_tensorboard.py` reads the same files with
//! TensorBoard's own `EventAccumulator`.
mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: independent of the
/// table-driven crate the writer uses.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The records of a TFRecord file, each CRC checked.
fn records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(
            len_crc,
            masked(crc32c(len_bytes)),
            "length CRC at byte {at}"
        );
        let data = &bytes[at + 12..at + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(data_crc, masked(crc32c(data)), "data CRC at byte {at}");
        out.push(data.to_vec());
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "a truncated record at the end");
    out
}

/// A protobuf field's value.
#[derive(Debug, Clone)]
enum Field {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Every (field number, value) of a message.
fn fields(bytes: &[u8]) -> Vec<(u64, Field)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        let value = match key & 7 {
            0 => Field::Varint(varint(bytes, &mut at)),
            1 => {
                at += 8;
                Field::Fixed64(bytes[at - 8..at].try_into().unwrap())
            }
            2 => {
                let len = varint(bytes, &mut at) as usize;
                at += len;
                Field::Bytes(bytes[at - len..at].to_vec())
            }
            5 => {
                at += 4;
                Field::Fixed32(bytes[at - 4..at].try_into().unwrap())
            }
            other => panic!("unexpected wire type {other}"),
        };
        out.push((key >> 3, value));
    }
    out
}

/// A decoded `Event`.
#[derive(Debug, Default)]
struct Event {
    wall_time: f64,
    step: i64,
    file_version: Option<String>,
    /// (tag, simple_value)
    scalars: Vec<(String, f32)>,
}

fn event(bytes: &[u8]) -> Event {
    let mut e = Event::default();
    for (number, value) in fields(bytes) {
        match (number, value) {
            (1, Field::Fixed64(b)) => e.wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => e.step = v as i64,
            (3, Field::Bytes(b)) => e.file_version = Some(String::from_utf8(b).unwrap()),
            (5, Field::Bytes(summary)) => {
                for (n, value) in fields(&summary) {
                    let (1, Field::Bytes(value)) = (n, value) else {
                        panic!("Summary field {n}")
                    };
                    let (mut tag, mut simple) = (String::new(), None);
                    for (n, v) in fields(&value) {
                        match (n, v) {
                            (1, Field::Bytes(b)) => tag = String::from_utf8(b).unwrap(),
                            (2, Field::Fixed32(b)) => simple = Some(f32::from_le_bytes(b)),
                            (n, v) => panic!("Summary.Value field {n}: {v:?}"),
                        }
                    }
                    e.scalars.push((tag, simple.expect("simple_value")));
                }
            }
            (n, v) => panic!("Event field {n}: {v:?}"),
        }
    }
    e
}

fn event_files(out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for run in std::fs::read_dir(out.join("runs")).unwrap() {
        for f in std::fs::read_dir(run.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files
}

fn train(tmp: &Path, name: &str, extra: &[&str]) -> (PathBuf, String) {
    let base = fixtures().join("distilbert/cls2");
    let data = lora_case("distilbert_cls").join("train.jsonl");
    let out = tmp.join(name);
    let recipe = tmp.join(format!("{name}.toml"));
    std::fs::write(&recipe, format!(
        "[model]\nname = \"{}\"\ntask = \"classification\"\nlabels = [\"negative\", \"positive\"]\n\
         [data]\ntrain = \"{d}\"\nvalidation = \"{d}\"\nmax_source_tokens = 48\n\
         [lora]\nr = 4\nlora_alpha = 8\ntarget_modules = [\"q_lin\"]\n\
         [train]\noutput_dir = \"{}\"\nlearning_rate = 1e-2\nbatch_size = 4\nmax_steps = 6\nlogging_steps = 1\n\
         eval_strategy = \"steps\"\neval_steps = 3\ndevice = \"cpu\"\n",
        base.display(), out.display(), d = data.display())).unwrap();
    let mut args = vec!["train", recipe.to_str().unwrap(), "-v"];
    args.extend(extra);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (out, stderr)
}

#[test]
fn tensorboard_events_match_the_metrics_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, stderr) = train(
        tmp.path(),
        "run",
        &["--set", "train.report_to=[\"tensorboard\"]"],
    );
    // stderr is a pipe here: plain text, no colour codes
    assert!(stderr.contains("TensorBoard events:"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escape in a piped log:\n{stderr:?}"
    );

    let files = event_files(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let run_dir = file
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    let name = file.file_name().unwrap().to_string_lossy();
    // Transformers' layout: runs/<Mon><DD>_<HH>-<MM>-<SS>_<host>/events.out.tfevents.<secs>.<host>
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    let host = name.splitn(5, '.').nth(4).unwrap().to_string();
    assert!(
        run_dir.ends_with(&format!("_{host}")),
        "{run_dir} vs {host}"
    );
    assert_eq!(run_dir.as_bytes()[5], b'_', "{run_dir}");

    let events: Vec<Event> = records(file).iter().map(|r| event(r)).collect();
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert!(events[0].wall_time > 1.6e9);
    let mut got: BTreeMap<(String, i64), f32> = BTreeMap::new();
    for e in &events[1..] {
        assert_eq!(e.scalars.len(), 1, "one scalar per event, as add_scalar");
        for (tag, v) in &e.scalars {
            got.insert((tag.clone(), e.step), *v);
        }
    }
    let mut want: BTreeMap<(String, i64), f32> = BTreeMap::new();
    for line in read_jsonl(&out.join("metrics.jsonl")) {
        let step = line["step"].as_i64().unwrap();
        for (key, value) in line.as_object().unwrap() {
            let tag = match key.as_str() {
                "loss" | "learning_rate" | "grad_norm" | "epoch" => format!("train/{key}"),
                k if k.starts_with("eval_") => format!("eval/{}", &k[5..]),
                _ => continue,
            };
            want.insert((tag, step), value.as_f64().unwrap() as f32);
        }
    }
    assert_eq!(got, want);
    for tag in [
        "train/loss",
        "train/learning_rate",
        "train/grad_norm",
        "eval/loss",
        "eval/f1",
    ] {
        assert!(got.keys().any(|(t, _)| t == tag), "no {tag}");
    }
    assert_eq!(got.keys().filter(|(t, _)| t == "train/loss").count(), 6);

    // the training curves beside the adapter
    let png = std::fs::read(out.join("training.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out.join("training.svg")).unwrap();
    assert!(
        svg.contains("validation f1") && svg.contains("best"),
        "svg lacks panels"
    );

    // without report_to: no runs/ folder
    let (plain, _) = train(tmp.path(), "plain", &[]);
    assert!(!plain.join("runs").exists());
    // `loratune plot` overlays both runs, legend = folder names
    let overlay = tmp.path().join("both.svg");
    run_cli(&[
        "plot",
        out.to_str().unwrap(),
        plain.to_str().unwrap(),
        "--output",
        overlay.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&overlay).unwrap();
    assert!(
        svg.contains("\nrun\n</text>") && svg.contains("\nplain\n</text>"),
        "legend names both runs"
    );
    if let Ok(dir) = std::env::var("LORATUNE_KEEP_TENSORBOARD") {
        // for scripts/check_tensorboard.py: keep the events of this run
        let keep = Path::new(&dir);
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(file, keep.join(file.file_name().unwrap())).unwrap();
        std::fs::copy(out.join("metrics.jsonl"), keep.join("metrics.jsonl")).unwrap();
    }
}
