use super::common::{length_sorted_batches, with_id, IoArgs, ModelArgs};
use clap::Args;
use loratune::data::batch::pad;
use loratune::jsonl::{read_objects, string_field};
use loratune::models::classifier::softmax;
use loratune::models::{Kind, Options};
use loratune::output::AtomicFile;
use loratune::tokenizer::TextTokenizer;
use serde_json::json;

#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    io: IoArgs,
    /// The input field holding the text to classify.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Truncate inputs to this many tokens, special tokens included.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Number of labels, for a checkpoint without a classification head (a new head is created).
    #[arg(long)]
    num_labels: Option<usize>,
    /// Label names in id order, comma-separated (otherwise config.json's id2label).
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// Seed for a newly created head.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<()> {
    args.io.check_output()?;
    let files = args.model.files()?;
    let options = Options {
        num_labels: args.num_labels,
        labels: args.labels.clone(),
        seed: args.seed,
        ..args.model.options(Kind::Classifier)?
    };
    let model = args.model.open(&files, &options)?.model.into_classifier()?;
    let mut max_tokens = args.max_tokens;
    if max_tokens > model.max_positions() {
        tracing::warn!(
            "--max-tokens {max_tokens} exceeds the model's {} positions; truncating to {}",
            model.max_positions(),
            model.max_positions()
        );
        max_tokens = model.max_positions();
    }
    let tokenizer = TextTokenizer::load(&files)?.with_max_length(max_tokens)?;

    let rows = read_objects(&args.io.input)?;
    let mut inputs = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        inputs.push(tokenizer.encode(string_field(
            row,
            &args.text_field,
            &args.io.input,
            *line,
        )?)?);
    }

    let lengths: Vec<usize> = inputs.iter().map(Vec::len).collect();
    let mut logits: Vec<Vec<f32>> = vec![Vec::new(); rows.len()];
    let bar = loratune::progress::bar(rows.len() as u64, "classify");
    for batch_rows in length_sorted_batches(&lengths, args.batch_size) {
        let seqs: Vec<Vec<u32>> = batch_rows.iter().map(|&i| inputs[i].clone()).collect();
        let (ids, mask) = pad(&seqs, model.pad_token_id, &model.device)?;
        let out = model
            .forward(&ids, &mask, false)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2::<f32>()?;
        for (&i, row) in batch_rows.iter().zip(out) {
            logits[i] = row;
        }
        bar.inc(batch_rows.len() as u64);
    }
    bar.finish_and_clear();

    let mut out = AtomicFile::create(&args.io.output)?;
    for ((_, row), logits) in rows.iter().zip(logits) {
        let probs = softmax(&logits);
        let label = argmax(&logits);
        let mut obj = serde_json::Map::new();
        obj.insert("label".into(), json!(label));
        if let Some(name) = model.labels.name(label) {
            obj.insert("label_name".into(), json!(name));
        }
        obj.insert("logits".into(), json!(logits));
        obj.insert("probs".into(), json!(probs));
        out.write_json(&with_id(obj, row))?;
    }
    out.finish()?;
    Ok(())
}

/// The first index of the largest value.
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
