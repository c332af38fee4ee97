use super::common::IoArgs;
use anyhow::bail;
use clap::Args;
use loratune::eval::bertscore::{default_layer, BertScoreSettings, BertScorer};
use loratune::eval::rouge::RougeScorer;
use loratune::jsonl::{read_objects, string_field};
use loratune::output::AtomicFile;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    io: IoArgs,
    /// Comma-separated: rouge, bertscore.
    #[arg(long, value_delimiter = ',', default_value = "rouge")]
    metrics: Vec<String>,
    #[arg(long, default_value = "prediction")]
    prediction_field: String,
    #[arg(long, default_value = "reference")]
    reference_field: String,
    /// BERTScore encoder: a BERT or RoBERTa model directory or Hub id.
    #[arg(long, default_value = "roberta-large")]
    bertscore_model: String,
    /// Hidden layer whose states BERTScore compares (bert_score's num_layers; default 17 for
    /// roberta-large and 10 for roberta-base, bert_score's choices).
    #[arg(long)]
    bertscore_layer: Option<usize>,
    /// IDF weighting from the references.
    #[arg(long)]
    idf: bool,
    /// A bert_score baseline CSV for rescaling.
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: loratune::device::DeviceChoice,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    args.io.check_output()?;
    for metric in &args.metrics {
        if !matches!(metric.as_str(), "rouge" | "bertscore") {
            bail!("unknown metric '{metric}' (known: rouge, bertscore)");
        }
    }
    let rows = read_objects(&args.io.input)?;
    let mut predictions = Vec::with_capacity(rows.len());
    let mut references = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        predictions
            .push(string_field(row, &args.prediction_field, &args.io.input, *line)?.to_string());
        references
            .push(string_field(row, &args.reference_field, &args.io.input, *line)?.to_string());
    }
    let mut outputs: Vec<Map<String, Value>> = vec![Map::new(); rows.len()];
    if args.metrics.iter().any(|m| m == "rouge") {
        let scorer = RougeScorer::new(true);
        for ((out, p), r) in outputs.iter_mut().zip(&predictions).zip(&references) {
            let s = scorer.score(r, p);
            out.insert("rouge1".into(), json!(s.rouge1.fmeasure));
            out.insert("rouge2".into(), json!(s.rouge2.fmeasure));
            out.insert("rougeL".into(), json!(s.rouge_l.fmeasure));
            out.insert("rougeLsum".into(), json!(s.rouge_lsum.fmeasure));
        }
    }
    if args.metrics.iter().any(|m| m == "bertscore") {
        let layer = match args
            .bertscore_layer
            .or_else(|| default_layer(&args.bertscore_model))
        {
            Some(layer) => layer,
            None => bail!("--bertscore-layer is needed for {}", args.bertscore_model),
        };
        let settings = BertScoreSettings {
            model: args.bertscore_model.clone(),
            layer,
            idf: args.idf,
            baseline: args.baseline.clone(),
            batch_size: args.batch_size,
        };
        let scorer = BertScorer::load(settings, &loratune::device::select_device(args.device)?)?;
        eprintln!("BERTScore: {}", scorer.hash());
        for (out, s) in outputs
            .iter_mut()
            .zip(scorer.score(&predictions, &references)?)
        {
            out.insert("bertscore_precision".into(), json!(s.precision));
            out.insert("bertscore_recall".into(), json!(s.recall));
            out.insert("bertscore_f1".into(), json!(s.f1));
        }
    }
    let mut writer = AtomicFile::create(&args.io.output)?;
    for ((_, row), out) in rows.iter().zip(&outputs) {
        writer.write_json(&super::common::with_id(out.clone(), row))?;
    }
    writer.finish()?;
    if let Some(first) = outputs.first() {
        for key in first.keys() {
            let mean =
                outputs.iter().filter_map(|o| o[key].as_f64()).sum::<f64>() / outputs.len() as f64;
            println!("{key:>20}: {mean:.4}");
        }
    }
    Ok(())
}
