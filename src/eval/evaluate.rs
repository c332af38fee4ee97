//! `evaluate_recipe`: the base model and the tuned model on the same random test examples,
//! scored and written as a report (also the last stage of `loratune run`).
use super::bertscore::{BertScoreSettings, BertScorer};
use super::classification_charts::ClassScores;
use super::columns::example_fields;
use super::report::{
    checksum_files, rouge_settings, write_report, write_report_with_scores, ClassificationReport,
    ReportExample, ReportMeta, WrittenReport,
};
use super::rouge::RougeScorer;
use crate::data::classification_metrics::ClassificationMetrics;
use crate::data::dataset::{classification_example, sample, seq2seq_example};
use crate::data::selected::ExampleFile;
use crate::error::{Error, Result};
use crate::generate::{GenerationConfigFile, GenerationOverrides, GenerationSettings};
use crate::hub::ModelFiles;
use crate::lora::peft;
use crate::models::{open, Kind, Model, Options};
use crate::recipe::{EvalSection, Recipe, Task};
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Device};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub struct Evaluation {
    pub written: WrittenReport,
    /// The headline metric (F1 for classification, ROUGE-L for summaries): (name, base, tuned).
    pub headline: (String, f64, f64),
}

/// The test subset: `data.test_samples` of the test file (else the validation file), then
/// `eval.samples` of those, both seeded; only the chosen rows are built into examples.
fn test_examples<T>(
    recipe: &Recipe,
    make: impl Fn(&Path, usize, &crate::jsonl::Row) -> Result<Option<T>>,
) -> Result<Vec<T>> {
    let d = &recipe.data;
    let path = d
        .test
        .clone()
        .or_else(|| d.validation.clone())
        .ok_or_else(|| Error::Config("evaluation needs data.test (or data.validation)".into()))?;
    let file = ExampleFile::scan(&path, make)?;
    let subset = sample((0..file.examples()).collect(), d.test_samples, d.seed);
    let chosen = sample(subset, Some(recipe.eval.samples), recipe.eval.seed);
    file.build(&chosen, Ok)
}

fn base_meta(
    recipe: &Recipe,
    files: &ModelFiles,
    adapter: &Path,
    dtype: DType,
    device: &Device,
) -> Result<ReportMeta> {
    let mut meta = ReportMeta {
        title: format!("{}: base vs tuned", recipe.model.name),
        task: format!("{:?}", recipe.model.task).to_lowercase(),
        base_model: recipe.model.name.clone(),
        adapter: adapter.display().to_string(),
        dtype: format!("{dtype:?}").to_lowercase(),
        device: crate::device::device_name(device),
        ..Default::default()
    };
    meta.seeds.insert("data".into(), recipe.data.seed);
    meta.seeds.insert("eval".into(), recipe.eval.seed);
    meta.seeds.insert("train".into(), recipe.train.seed);
    meta.checksums
        .insert("base_model".into(), checksum_files(&files.weights)?);
    meta.checksums.insert(
        "adapter".into(),
        checksum_files(&[
            adapter.join(peft::CONFIG_FILE),
            adapter.join(peft::WEIGHTS_FILE),
        ])?,
    );
    meta.settings.insert(
        "recipe".into(),
        serde_json::to_value(recipe).map_err(|e| Error::Config(e.to_string()))?,
    );
    Ok(meta)
}

pub fn evaluate_recipe(recipe: &Recipe, adapter: &Path) -> Result<Evaluation> {
    let device = crate::device::select_device(recipe.train.device)?;
    let dtype = recipe.model.dtype.dtype();
    let files = crate::hub::resolve_model(&recipe.model.name)?;
    let out = recipe.train.output_dir.join("report");
    let meta = base_meta(recipe, &files, adapter, dtype, &device)?;
    let context = Context {
        recipe,
        files: &files,
        adapter,
        dtype,
        device: &device,
        meta,
        out: &out,
    };
    match recipe.model.task {
        Task::Classification => evaluate_classifier(context),
        Task::Seq2seq => evaluate_seq2seq(context),
    }
}

/// Everything both evaluations need.
struct Context<'a> {
    recipe: &'a Recipe,
    files: &'a ModelFiles,
    adapter: &'a Path,
    dtype: DType,
    device: &'a Device,
    meta: ReportMeta,
    out: &'a Path,
}

impl Context<'_> {
    /// The base model and the tuned one (the base with the adapter), opened alike.
    fn base_and_tuned(&self, options: Options) -> Result<(Model, Model)> {
        let options = Options {
            dtype: self.dtype,
            device: self.device.clone(),
            ..options
        };
        let base = open(self.files, &options)?.model;
        let tuned_options = Options {
            adapter: Some(self.adapter.to_path_buf()),
            ..options
        };
        Ok((base, open(self.files, &tuned_options)?.model))
    }
}

fn evaluate_classifier(context: Context) -> Result<Evaluation> {
    let recipe = context.recipe;
    let (base, tuned) = context.base_and_tuned(Options {
        expect: Some(Kind::Classifier),
        num_labels: recipe.model.num_labels,
        labels: recipe.model.labels.clone(),
        seed: recipe.train.seed,
        ..Default::default()
    })?;
    let (base, tuned) = (base.into_classifier()?, tuned.into_classifier()?);
    let Context {
        files,
        mut meta,
        out,
        ..
    } = context;
    let names = recipe
        .model
        .labels
        .clone()
        .or_else(|| base.id2label().map(<[String]>::to_vec));
    let fields = example_fields(&recipe.data);
    let examples = test_examples(recipe, |path, line, row| {
        classification_example(
            row,
            line,
            &fields,
            names.as_deref(),
            base.num_labels(),
            path,
        )
    })?;
    let tokenizer = TextTokenizer::load(files)?.with_truncation_side(recipe.data.truncation_side);
    let max_tokens = recipe.data.max_source_tokens.min(base.max_positions());
    let texts = crate::data::tokenized::TokenizedTexts::new(&examples, &tokenizer, max_tokens)?;
    let batch = recipe.eval.batch_size.unwrap_or(32);
    let base_scores = base.predict_with_probabilities(&texts, batch)?;
    let tuned_scores = tuned.predict_with_probabilities(&texts, batch)?;
    let (base_pred, tuned_pred) = (&base_scores.labels, &tuned_scores.labels);
    let label_names: Vec<String> = (0..base.num_labels())
        .map(|i| {
            names
                .as_ref()
                .and_then(|n| n.get(i).cloned())
                .unwrap_or_else(|| format!("LABEL_{i}"))
        })
        .collect();
    let report_examples: Vec<ReportExample> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let correct = |p: usize| {
                BTreeMap::from([("correct".to_string(), f64::from(u8::from(p == e.label)))])
            };
            ReportExample {
                id: e.id.clone().unwrap_or(json!(i)),
                input: e.text.clone(),
                reference: label_names[e.label].clone(),
                base_output: label_names[base_pred[i]].clone(),
                tuned_output: label_names[tuned_pred[i]].clone(),
                base_metrics: correct(base_pred[i]),
                tuned_metrics: correct(tuned_pred[i]),
            }
        })
        .collect();
    meta.sample_ids = report_examples.iter().map(|e| e.id.clone()).collect();
    let classification = ClassificationReport {
        base: ClassificationMetrics::compute(base_pred, &texts.labels, base.num_labels())?,
        tuned: ClassificationMetrics::compute(tuned_pred, &texts.labels, base.num_labels())?,
        label_names,
    };
    meta.settings.insert("classification".into(), json!({"max_tokens": max_tokens, "truncation_side": recipe.data.truncation_side, "positive_class": 1, "average": if base.num_labels() == 2 { "binary" } else { "macro" }}));
    let headline = (
        "f1".to_string(),
        classification.base.f1,
        classification.tuned.f1,
    );
    let scores = ClassScores {
        labels: texts.labels.clone(),
        base: base_scores.probabilities,
        tuned: tuned_scores.probabilities,
    };
    let written = write_report_with_scores(
        out,
        &meta,
        &report_examples,
        Some(&classification),
        Some(&scores),
    )?;
    Ok(Evaluation { written, headline })
}

/// The recipe's `[eval]` decoding keys, as the overrides `loratune generate` builds from its
/// flags; `eval.seed` seeds sampling.
pub(crate) fn decoding_overrides(eval: &EvalSection) -> GenerationOverrides {
    GenerationOverrides {
        max_new_tokens: eval.max_new_tokens,
        min_new_tokens: eval.min_new_tokens,
        num_beams: eval.num_beams,
        length_penalty: eval.length_penalty,
        early_stopping: eval.early_stopping,
        no_repeat_ngram_size: eval.no_repeat_ngram_size,
        repetition_penalty: eval.repetition_penalty,
        do_sample: eval.do_sample,
        temperature: eval.temperature,
        top_k: eval.top_k,
        top_p: eval.top_p,
        seed: Some(eval.seed),
    }
}

/// Evaluation's decoding: a key set in `[eval]`, else the model's generation_config.json,
/// else the default (as `loratune generate` resolves its flags, through the same
/// [`GenerationSettings::resolve`]); `max_new_tokens` defaults to `reference_p95` (the 95th
/// percentile of the reference lengths), computed only when needed. Returns the settings and
/// where `max_new_tokens` came from.
pub(crate) fn decoding_settings(
    eval: &EvalSection,
    file: Option<&GenerationConfigFile>,
    reference_p95: impl FnOnce() -> Result<usize>,
) -> Result<(GenerationSettings, &'static str)> {
    let mut overrides = decoding_overrides(eval);
    let from = if eval.max_new_tokens.is_some() {
        "recipe"
    } else if file
        .and_then(GenerationConfigFile::max_new_tokens)
        .is_some()
    {
        "generation_config.json"
    } else {
        overrides.max_new_tokens = Some(reference_p95()?);
        "95th percentile of reference lengths"
    };
    let settings = GenerationSettings::resolve(file, &overrides).map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("[eval] decoding settings: {m}")),
        other => other,
    })?;
    Ok((settings, from))
}

/// BERTScore as `[eval]` asks for it (`bertscore_model` at `bertscore_layer`, no idf, no
/// baseline); `None` without `bertscore_model`.
pub(crate) fn bertscore_settings(eval: &EvalSection) -> Result<Option<BertScoreSettings>> {
    let Some(model) = &eval.bertscore_model else {
        return Ok(None);
    };
    Ok(Some(BertScoreSettings {
        model: model.clone(),
        layer: eval.bertscore_layer.ok_or_else(|| {
            Error::Config("eval.bertscore_model needs eval.bertscore_layer".into())
        })?,
        idf: false,
        baseline: None,
        batch_size: 64,
    }))
}

/// The decoding settings as the report records them.
fn decoding_record(s: &GenerationSettings) -> serde_json::Map<String, Value> {
    let decoding = if s.do_sample {
        "sampling"
    } else if s.num_beams > 1 {
        "beam search"
    } else {
        "greedy"
    };
    let value = json!({
        "decoding": decoding,
        "max_new_tokens": s.max_new_tokens,
        "min_new_tokens": s.min_new_tokens,
        "num_beams": s.num_beams,
        "length_penalty": s.length_penalty,
        "early_stopping": s.early_stopping,
        "no_repeat_ngram_size": s.no_repeat_ngram_size,
        "repetition_penalty": s.repetition_penalty,
        "do_sample": s.do_sample,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "temperature": s.temperature,
        "seed": s.seed,
    });
    value.as_object().cloned().unwrap_or_default()
}

pub(crate) fn percentile_95(mut lengths: Vec<usize>) -> usize {
    lengths.sort_unstable();
    let index = ((lengths.len() as f64 - 1.0) * 0.95).ceil() as usize;
    lengths.get(index).copied().unwrap_or(1).max(1)
}

fn evaluate_seq2seq(context: Context) -> Result<Evaluation> {
    let (base, tuned) = context.base_and_tuned(Options {
        expect: Some(Kind::Seq2Seq),
        ..Default::default()
    })?;
    let (base, mut tuned) = (base.into_seq2seq()?, tuned.into_seq2seq()?);
    let Context {
        recipe,
        files,
        device,
        mut meta,
        out,
        ..
    } = context;
    crate::lora::merge::merge_in_memory(&mut tuned)?;
    let fields = example_fields(&recipe.data);
    let examples = test_examples(recipe, |path, line, row| {
        seq2seq_example(row, line, &fields, path)
    })?;
    let tokenizer = TextTokenizer::load(files)?;
    let sources = tokenizer
        .with_truncation_side(recipe.data.truncation_side)
        .with_max_length(recipe.data.max_source_tokens)?
        .encode_batch(
            &examples
                .iter()
                .map(|e| e.source.as_str())
                .collect::<Vec<_>>(),
        )?;
    let file = match &files.generation_config {
        Some(path) => Some(GenerationConfigFile::load(path)?),
        None => None,
    };
    let reference_p95 = || -> Result<usize> {
        let targets: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
        Ok(percentile_95(
            tokenizer
                .encode_batch(&targets)?
                .iter()
                .map(Vec::len)
                .collect(),
        ))
    };
    let (settings, max_new_tokens_from) =
        decoding_settings(&recipe.eval, file.as_ref(), reference_p95)?;
    tracing::info!("evaluation decoding settings: {settings:?}");
    let mut generation = decoding_record(&settings);
    generation.insert("max_new_tokens_from".into(), json!(max_new_tokens_from));
    generation.insert(
        "generation_config".into(),
        json!(files
            .generation_config
            .as_ref()
            .map(|_| "generation_config.json")),
    );
    generation.insert(
        "max_source_tokens".into(),
        json!(recipe.data.max_source_tokens),
    );
    generation.insert("truncation_side".into(), json!(recipe.data.truncation_side));
    meta.settings
        .insert("generation".into(), Value::Object(generation));
    let batch = recipe.eval.batch_size.unwrap_or(8);
    let generate_all = |model: &crate::models::t5::T5, label: &str| -> Result<Vec<String>> {
        let bar = crate::progress::bar(sources.len() as u64, label);
        // sorted by length into batches, returned in input order
        let outputs = crate::generate::generate_all(model, &sources, &settings, batch, |n| {
            bar.inc(n as u64)
        })?;
        bar.finish_and_clear();
        outputs
            .iter()
            .map(|ids| tokenizer.decode(ids))
            .collect::<Result<Vec<_>>>()
    };
    let base_out = generate_all(&base, "base")?;
    let tuned_out = generate_all(&tuned, "tuned")?;
    let references: Vec<String> = examples.iter().map(|e| e.target.clone()).collect();
    let rouge = RougeScorer::new(true);
    meta.settings.insert("rouge".into(), rouge_settings(true));
    let bertscore = match bertscore_settings(&recipe.eval)? {
        Some(settings) => {
            let scorer = BertScorer::load(settings.clone(), device)?;
            meta.settings.insert("bertscore".into(), json!({"model": settings.model, "layer": settings.layer, "idf": false, "baseline": Value::Null, "hash": scorer.hash()}));
            Some((
                scorer.score(&base_out, &references)?,
                scorer.score(&tuned_out, &references)?,
            ))
        }
        None => {
            meta.settings.insert(
                "bertscore".into(),
                json!("not computed: set eval.bertscore_model and eval.bertscore_layer"),
            );
            None
        }
    };
    let metrics = |prediction: &str, reference: &str, bert: Option<f64>| {
        let s = rouge.score(reference, prediction);
        let mut m = BTreeMap::from([
            ("rouge1".to_string(), s.rouge1.fmeasure),
            ("rouge2".to_string(), s.rouge2.fmeasure),
            ("rougeL".to_string(), s.rouge_l.fmeasure),
            ("rougeLsum".to_string(), s.rouge_lsum.fmeasure),
        ]);
        if let Some(f1) = bert {
            m.insert("bertscore_f1".to_string(), f1);
        }
        m
    };
    let report_examples: Vec<ReportExample> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| ReportExample {
            id: e.id.clone().unwrap_or(json!(i)),
            input: e.source.clone(),
            reference: e.target.clone(),
            base_output: base_out[i].clone(),
            tuned_output: tuned_out[i].clone(),
            base_metrics: metrics(
                &base_out[i],
                &e.target,
                bertscore.as_ref().map(|b| b.0[i].f1),
            ),
            tuned_metrics: metrics(
                &tuned_out[i],
                &e.target,
                bertscore.as_ref().map(|b| b.1[i].f1),
            ),
        })
        .collect();
    meta.sample_ids = report_examples.iter().map(|e| e.id.clone()).collect();
    let mean = |pick: &dyn Fn(&ReportExample) -> f64| {
        report_examples.iter().map(pick).sum::<f64>() / report_examples.len().max(1) as f64
    };
    let headline = (
        "rougeL".to_string(),
        mean(&|e| e.base_metrics["rougeL"]),
        mean(&|e| e.tuned_metrics["rougeL"]),
    );
    let written = write_report(out, &meta, &report_examples, None)?;
    Ok(Evaluation { written, headline })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> EvalSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn recipe_over_generation_config_over_defaults() {
        let file: GenerationConfigFile = serde_json::from_str(
            r#"{"num_beams": 3, "max_length": 21, "length_penalty": 0.5,
                "no_repeat_ngram_size": 2, "eos_token_id": 1}"#,
        )
        .unwrap();
        let p95 = || Ok(17);
        // a key set in the recipe wins; the file fills the others
        let (s, from) = decoding_settings(
            &eval("num_beams = 4\nmax_new_tokens = 9\nearly_stopping = \"never\"\n"),
            Some(&file),
            p95,
        )
        .unwrap();
        assert_eq!((s.num_beams, s.max_new_tokens, from), (4, 9, "recipe"));
        assert_eq!(s.early_stopping, crate::generate::EarlyStopping::Never);
        assert_eq!((s.length_penalty, s.no_repeat_ngram_size), (0.5, 2));
        assert_eq!(s.eos_token_ids, Some(vec![1]));
        // unset in the recipe: generation_config.json (max_length counts the start token)
        let (s, from) = decoding_settings(&eval(""), Some(&file), || {
            panic!("the reference lengths are not needed")
        })
        .unwrap();
        assert_eq!(
            (s.num_beams, s.max_new_tokens, from),
            (3, 20, "generation_config.json")
        );
        // neither: greedy, max_new_tokens from the references, eval.seed for sampling
        let (s, from) = decoding_settings(&eval("seed = 7"), None, p95).unwrap();
        assert_eq!(from, "95th percentile of reference lengths");
        assert_eq!(
            s,
            GenerationSettings {
                max_new_tokens: 17,
                seed: 7,
                ..Default::default()
            }
        );
        let record = decoding_record(&s);
        assert_eq!(record["decoding"], "greedy");
        assert_eq!(record["num_beams"], 1);
        let err = decoding_settings(&eval("num_beams = 0"), None, p95)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "[eval] decoding settings: num_beams must be at least 1"
        );
    }
}
