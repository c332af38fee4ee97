use super::common::{with_id, IoArgs, ModelArgs};
use anyhow::Context;
use clap::Args;
use loratune::generate::{
    generate_all, EarlyStopping, GenerationConfigFile, GenerationOverrides, GenerationSettings,
};
use loratune::jsonl::{read_objects, string_field};
use loratune::models::Kind;
use loratune::output::AtomicFile;
use loratune::tokenizer::TextTokenizer;
use serde_json::json;

/// Decoding options. Unset ones come from the model's generation_config.json when it sets
/// them, else from Transformers' defaults (max-new-tokens: 128).
#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    io: IoArgs,
    #[arg(long, default_value = "source")]
    source_field: String,
    #[arg(long, default_value_t = 512)]
    max_source_tokens: usize,
    /// Inputs per batch (sorted by length into batches; output keeps the input order).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Merge the --adapter into the weights in memory first (faster decoding).
    #[arg(long)]
    merge_adapter: bool,
    /// Most tokens to generate per input (generation_config: max_new_tokens, or max_length − 1).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// End-of-sequence is forbidden before this many new tokens.
    #[arg(long)]
    min_new_tokens: Option<usize>,
    /// Beam search with this many beams (1: greedy or sampling).
    #[arg(long)]
    num_beams: Option<usize>,
    /// Beam search: finished hypotheses are scored log-prob / length^penalty.
    #[arg(long, allow_hyphen_values = true)]
    length_penalty: Option<f64>,
    /// Beam search termination: true, false or never.
    #[arg(long)]
    early_stopping: Option<EarlyStopping>,
    /// Forbid repeating any n-gram of this size (0: off).
    #[arg(long)]
    no_repeat_ngram_size: Option<usize>,
    /// Penalise tokens already generated (1.0: off).
    #[arg(long)]
    repetition_penalty: Option<f64>,
    /// Sample instead of greedy decoding (`--do-sample` or `--do-sample false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    do_sample: Option<bool>,
    /// Sampling temperature.
    #[arg(long)]
    temperature: Option<f64>,
    /// Sampling: keep the k most likely tokens (0: off; default 50).
    #[arg(long)]
    top_k: Option<usize>,
    /// Sampling: keep the most likely tokens up to this probability mass (1.0: off).
    #[arg(long)]
    top_p: Option<f64>,
    /// Sampling seed (each input samples from its own stream derived from it and its position).
    #[arg(long)]
    seed: Option<u64>,
}

impl GenerateArgs {
    fn overrides(&self) -> GenerationOverrides {
        GenerationOverrides {
            max_new_tokens: self.max_new_tokens,
            min_new_tokens: self.min_new_tokens,
            num_beams: self.num_beams,
            length_penalty: self.length_penalty,
            early_stopping: self.early_stopping,
            no_repeat_ngram_size: self.no_repeat_ngram_size,
            repetition_penalty: self.repetition_penalty,
            do_sample: self.do_sample,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
        }
    }
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    args.io.check_output()?;
    let files = args.model.files()?;
    let file_settings = match &files.generation_config {
        Some(path) => Some(
            GenerationConfigFile::load(path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let settings = GenerationSettings::resolve(file_settings.as_ref(), &args.overrides())?;
    tracing::info!("generation settings: {settings:?}");
    let options = args.model.options(Kind::Seq2Seq)?;
    let mut model = args.model.open(&files, &options)?.model.into_seq2seq()?;
    if args.merge_adapter {
        if args.model.adapter.is_none() {
            anyhow::bail!("--merge-adapter needs --adapter");
        }
        loratune::lora::merge::merge_in_memory(&mut model)?;
    }
    let tokenizer = TextTokenizer::load(&files)?;
    let source_tok = tokenizer.with_max_length(args.max_source_tokens)?;

    let rows = read_objects(&args.io.input)?;
    let mut sources = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        sources.push(source_tok.encode(string_field(
            row,
            &args.source_field,
            &args.io.input,
            *line,
        )?)?);
    }
    let bar = loratune::progress::bar(rows.len() as u64, "generate");
    let outputs = generate_all(&model, &sources, &settings, args.batch_size, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();

    let mut out = AtomicFile::create(&args.io.output)?;
    for ((_, row), ids) in rows.iter().zip(outputs) {
        let mut obj = serde_json::Map::new();
        obj.insert("generated".into(), json!(tokenizer.decode(&ids)?));
        out.write_json(&with_id(obj, row))?;
    }
    out.finish()?;
    Ok(())
}
