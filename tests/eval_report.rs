//! Writes full evaluation reports for synthetic data and checks every file.
//!
//! Set `LORATUNE_KEEP_REPORT=DIR` to keep the reports in `DIR/seq2seq/report` and
//! `DIR/classification/report` for a look.
use loratune::data::classification_metrics::ClassificationMetrics;
use loratune::eval::classification_charts::ClassScores;
use loratune::eval::report::{
    checksum_files, format_table, rouge_settings, write_report, write_report_with_scores,
    ClassificationReport, ReportExample, ReportMeta,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn out_dir(tmp: &Path, name: &str) -> PathBuf {
    match std::env::var_os("LORATUNE_KEEP_REPORT") {
        Some(dir) => PathBuf::from(dir).join(name).join("report"),
        None => tmp.join("out").join(name).join("report"),
    }
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 1000, "PNG too small: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    // Decode fully to be sure the data is intact.
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    // Not a blank canvas: some pixels are dark (text, lines).
    let dark = buf[..info.buffer_size()]
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c < 80))
        .count();
    assert!(dark > 500, "PNG has almost no dark pixels ({dark})");
    (w, h)
}

fn meta(task: &str, tmp: &Path) -> ReportMeta {
    let weights = tmp.join("model.safetensors");
    std::fs::write(&weights, b"weights").unwrap();
    let adapter = tmp.join("adapter_model.safetensors");
    std::fs::write(&adapter, b"adapter").unwrap();
    let mut meta = ReportMeta {
        task: task.into(),
        base_model: "google/flan-t5-small".into(),
        adapter: "runs/dialogsum/adapter".into(),
        dtype: "f32".into(),
        device: "cpu".into(),
        ..ReportMeta::default()
    };
    meta.seeds.insert("data".into(), 42);
    meta.seeds
        .insert("bootstrap".into(), meta.statistics.bootstrap_seed);
    meta.checksums
        .insert("base_model".into(), checksum_files(&[&weights]).unwrap());
    meta.checksums
        .insert("adapter".into(), checksum_files(&[&adapter]).unwrap());
    meta.settings.insert("rouge".into(), rouge_settings(true));
    meta.settings.insert(
        "bertscore".into(),
        json!({"model": "roberta-large", "layer": 17, "idf": false, "rescale_with_baseline": false,
               "hash": "roberta-large_L17_no-idf_version=0.3.12(hug_trans=4.40.0)"}),
    );
    meta
}

/// `labels`: the box plot's groups (the metrics, or for class probabilities the groups of
/// examples).
fn check_common(dir: &Path, n: usize, metrics: &[&str], labels: &[&str]) -> Value {
    for file in [
        "examples.jsonl",
        "summary.json",
        "boxplot.png",
        "boxplot.svg",
        "index.html",
    ] {
        let len = std::fs::metadata(dir.join(file)).unwrap().len();
        assert!(len > 0, "{file} is empty");
    }
    // No temporary directories left beside the report.
    let parent = dir.parent().unwrap();
    for entry in std::fs::read_dir(parent).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-") && !name.contains(".old-"),
            "left over: {name}"
        );
    }
    let (w, h) = png_size(&std::fs::read(dir.join("boxplot.png")).unwrap());
    assert!(w >= 600 && h >= 500, "boxplot {w}x{h}");
    let svg = std::fs::read_to_string(dir.join("boxplot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for m in labels {
        assert!(svg.contains(m), "SVG lacks the label {m}");
    }
    assert!(
        svg.contains("\nbase\n</text>") && svg.contains("\ntuned\n</text>"),
        "SVG legend"
    );

    let lines: Vec<Value> = std::fs::read_to_string(dir.join("examples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    for key in [
        "id",
        "input",
        "reference",
        "base_output",
        "tuned_output",
        "base_metrics",
        "tuned_metrics",
    ] {
        assert!(lines[0].get(key).is_some(), "examples.jsonl lacks {key}");
    }

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for key in [
        "loratune_version",
        "meta",
        "statistics",
        "examples",
        "metric_order",
        "metrics",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["examples"], json!(n));
    assert_eq!(
        summary["loratune_version"],
        json!(env!("CARGO_PKG_VERSION"))
    );
    for key in [
        "seeds",
        "sample_ids",
        "dtype",
        "device",
        "checksums",
        "settings",
        "statistics",
    ] {
        assert!(
            summary["meta"].get(key).is_some(),
            "summary.json meta lacks {key}"
        );
    }
    assert_eq!(summary["meta"]["sample_ids"].as_array().unwrap().len(), n);
    assert_eq!(
        summary["statistics"]["bootstrap"]["resamples"],
        json!(10_000)
    );
    for m in metrics {
        let s = &summary["metrics"][*m];
        for model in ["base", "tuned"] {
            for stat in ["mean", "median", "std"] {
                assert!(s[model][stat].is_number(), "{m} {model} {stat}");
            }
        }
        for key in [
            "mean",
            "ci_low",
            "ci_high",
            "p_value",
            "wilcoxon_statistic",
            "wilcoxon_method",
        ] {
            assert!(!s["difference"][key].is_null(), "{m} difference {key}");
        }
        let d = &s["difference"];
        assert!(d["ci_low"].as_f64().unwrap() <= d["mean"].as_f64().unwrap());
        assert!(d["mean"].as_f64().unwrap() <= d["ci_high"].as_f64().unwrap());
    }

    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains("data:image/png;base64,iVBORw0KGgo"),
        "embedded PNG"
    );
    assert!(
        !html.contains("src=\"boxplot.png\""),
        "page must be self-contained"
    );
    summary
}

#[test]
fn seq2seq_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let metrics = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_f1"];
    let n = 60;
    let examples: Vec<ReportExample> = (0..n)
        .map(|i| {
            let mut base = BTreeMap::new();
            let mut tuned = BTreeMap::new();
            for (k, m) in metrics.iter().enumerate() {
                let level = 0.45 - 0.08 * k as f64;
                let b: f64 = (level + rng.gen_range(-0.2..0.2f64)).clamp(0.0, 1.0);
                let mut t: f64 = (b + 0.06 + rng.gen_range(-0.12..0.12f64)).clamp(0.0, 1.0);
                if i % 17 == 0 {
                    t = 0.98; // outliers
                }
                base.insert(m.to_string(), b);
                tuned.insert(m.to_string(), t);
            }
            ReportExample {
                id: json!(format!("dialog-{i}")),
                input: format!("#Person1#: Hello <b>{i}</b> & \"welcome\"\n#Person2#: Hi!"),
                reference: "Person1 greets Person2.".into(),
                base_output: "Hello.".into(),
                tuned_output: "#Person1# greets #Person2# <script>alert(1)</script>".into(),
                base_metrics: base,
                tuned_metrics: tuned,
            }
        })
        .collect();
    let mut meta = meta("seq2seq", tmp.path());
    meta.sample_ids = examples.iter().map(|e| e.id.clone()).collect();
    let dir = out_dir(tmp.path(), "seq2seq");
    // Write twice: the second run replaces the first atomically.
    write_report(&dir, &meta, &examples, None).unwrap();
    let written = write_report(&dir, &meta, &examples, None).unwrap();
    assert!(written.paths.confusion_png.is_none());
    assert!(!dir.join("confusion.png").exists());
    let summary = check_common(&dir, n, &metrics, &metrics);
    assert!(summary.get("classification").is_none());

    let html = std::fs::read_to_string(&written.paths.index_html).unwrap();
    assert!(!html.contains("<script>alert"), "unescaped example text");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;7&lt;/b&gt; &amp; &quot;welcome&quot;"));

    let table = format_table(&written.summary);
    println!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), metrics.len() + 1);
    assert!(
        lines[0].starts_with("metric") && lines[0].contains("95% CI") && lines[0].ends_with('p')
    );
    assert!(lines.iter().any(|l| l.starts_with("rougeLsum")));
}

#[test]
fn classification_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let names: Vec<String> = ["negative", "neutral", "positive"]
        .map(String::from)
        .to_vec();
    let n = 120;
    let labels: Vec<usize> = (0..n).map(|_| rng.gen_range(0..3)).collect();
    let noisy = |rng: &mut StdRng, acc: f64| -> Vec<usize> {
        labels
            .iter()
            .map(|&l| {
                if rng.gen_bool(acc) {
                    l
                } else {
                    rng.gen_range(0..3)
                }
            })
            .collect()
    };
    let base_pred = noisy(&mut rng, 0.4);
    let tuned_pred = noisy(&mut rng, 0.85);
    let examples: Vec<ReportExample> = (0..n)
        .map(|i| {
            let score = |p: usize| {
                BTreeMap::from([("accuracy".to_string(), f64::from(u8::from(p == labels[i])))])
            };
            ReportExample {
                id: json!(i),
                input: format!("review number {i}"),
                reference: names[labels[i]].clone(),
                base_output: names[base_pred[i]].clone(),
                tuned_output: names[tuned_pred[i]].clone(),
                base_metrics: score(base_pred[i]),
                tuned_metrics: score(tuned_pred[i]),
            }
        })
        .collect();
    let classification = ClassificationReport {
        base: ClassificationMetrics::compute(&base_pred, &labels, 3).unwrap(),
        tuned: ClassificationMetrics::compute(&tuned_pred, &labels, 3).unwrap(),
        label_names: names.clone(),
    };
    let mut meta = meta("classification", tmp.path());
    meta.sample_ids = examples.iter().map(|e| e.id.clone()).collect();
    let dir = out_dir(tmp.path(), "classification");
    let written = write_report(&dir, &meta, &examples, Some(&classification)).unwrap();
    let summary = check_common(&dir, n, &["accuracy"], &["accuracy"]);
    let confusion = written.paths.confusion_png.as_ref().unwrap();
    let (w, h) = png_size(&std::fs::read(confusion).unwrap());
    assert!(w > h && h >= 300, "confusion {w}x{h}");
    let c = &summary["classification"];
    assert_eq!(c["label_names"], json!(names));
    for model in ["base", "tuned"] {
        for key in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "macro_f1",
            "per_class",
            "confusion",
        ] {
            assert!(
                c[model].get(key).is_some(),
                "classification {model} lacks {key}"
            );
        }
    }
    // The per-example accuracy mean equals the classification accuracy.
    let acc = summary["metrics"]["accuracy"]["tuned"]["mean"]
        .as_f64()
        .unwrap();
    assert!((acc - classification.tuned.accuracy).abs() < 1e-12);
    let html = std::fs::read_to_string(&written.paths.index_html).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 2);
    println!("{}", format_table(&written.summary));

    // Without class probabilities the 0/1 box plot stays off the page; bars with intervals
    // and the confusion matrices are there.
    assert!(html.contains("bootstrap intervals"), "metric bars");
    assert!(!html.contains("<h2>Distributions</h2>"));
    assert!(written.paths.metrics_png.is_some() && written.paths.curves_png.is_none());

    // With class probabilities (each model's probability of its own prediction is highest):
    // the true-class probability row, the ROC AUC with a paired interval, the curves.
    let probabilities = |pred: &[usize], rng: &mut StdRng| -> Vec<Vec<f64>> {
        pred.iter()
            .map(|&p| {
                let mut row: Vec<f64> = (0..3).map(|_| rng.gen_range(0.0..0.3)).collect();
                row[p] = 0.5 + rng.gen_range(0.0..0.5);
                let sum: f64 = row.iter().sum();
                row.iter().map(|v| v / sum).collect()
            })
            .collect()
    };
    let scores = ClassScores {
        labels: labels.clone(),
        base: probabilities(&base_pred, &mut rng),
        tuned: probabilities(&tuned_pred, &mut rng),
    };
    meta.title = "../shared/models/all-MiniLM-L6-v2: base vs tuned".into();
    let dir = out_dir(tmp.path(), "classification-probabilities");
    let written =
        write_report_with_scores(&dir, &meta, &examples, Some(&classification), Some(&scores))
            .unwrap();
    // the box plot's groups: all examples, then each true class
    let summary = check_common(
        &dir,
        n,
        &["p(true class)", "accuracy"],
        &["all examples", "true: neutral"],
    );
    let auc = &summary["classification"]["roc_auc"];
    let (base_auc, tuned_auc) = (
        auc["base"].as_f64().unwrap(),
        auc["tuned"].as_f64().unwrap(),
    );
    assert!(tuned_auc > base_auc && tuned_auc > 0.8, "{auc}");
    let (low, high) = (
        auc["difference_ci"]["low"].as_f64().unwrap(),
        auc["difference_ci"]["high"].as_f64().unwrap(),
    );
    assert!(
        low <= tuned_auc - base_auc && tuned_auc - base_auc <= high,
        "{auc}"
    );
    assert_eq!(auc["averaging"], "one-vs-rest macro");
    let p_true = &summary["metrics"]["p(true class)"];
    assert!(p_true["tuned"]["mean"].as_f64() > p_true["base"]["mean"].as_f64());
    for png in [&written.paths.metrics_png, &written.paths.curves_png] {
        png_size(&std::fs::read(png.as_ref().unwrap()).unwrap());
    }
    let html = std::fs::read_to_string(&written.paths.index_html).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 4);
    assert!(
        html.contains("<h1>all-MiniLM-L6-v2: base vs tuned</h1>"),
        "short title"
    );
    assert!(html.contains("ROC AUC (one-vs-rest macro)"));
    let wrong_shape = ClassScores {
        labels: labels[1..].to_vec(),
        ..scores
    };
    assert!(write_report_with_scores(
        &tmp.path().join("bad-scores/report"),
        &meta,
        &examples,
        Some(&classification),
        Some(&wrong_shape)
    )
    .is_err());

    // Mismatched label names are rejected before anything is written.
    let bad = ClassificationReport {
        label_names: vec!["a".into(), "b".into()],
        ..classification
    };
    assert!(write_report(&tmp.path().join("bad/report"), &meta, &examples, Some(&bad)).is_err());
    assert!(!tmp.path().join("bad").exists());
}

#[test]
fn missing_metric_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = ReportExample {
        id: json!(1),
        input: "x".into(),
        reference: "y".into(),
        base_output: "a".into(),
        tuned_output: "b".into(),
        base_metrics: BTreeMap::from([("rouge1".to_string(), 0.5)]),
        tuned_metrics: BTreeMap::new(),
    };
    let err = write_report(
        &tmp.path().join("report"),
        &ReportMeta::default(),
        &[ex],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("rouge1"), "{err}");
}
