use super::common::{length_sorted_batches, with_id, IoArgs, ModelArgs};
use clap::Args;
use loratune::data::batch::Seq2SeqBatch;
use loratune::jsonl::{read_objects, string_field};
use loratune::models::Kind;
use loratune::output::AtomicFile;
use loratune::tokenizer::TextTokenizer;
use serde_json::json;

#[derive(Args)]
pub struct LossArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    io: IoArgs,
    #[arg(long, default_value = "source")]
    source_field: String,
    #[arg(long, default_value = "target")]
    target_field: String,
    #[arg(long, default_value_t = 512)]
    max_source_tokens: usize,
    #[arg(long, default_value_t = 128)]
    max_target_tokens: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

pub fn run(args: LossArgs) -> anyhow::Result<()> {
    args.io.check_output()?;
    let files = args.model.files()?;
    let options = args.model.options(Kind::Seq2Seq)?;
    let model = args.model.open(&files, &options)?.model.into_seq2seq()?;
    let tokenizer = TextTokenizer::load(&files)?;
    let source_tok = tokenizer.with_max_length(args.max_source_tokens)?;
    let target_tok = tokenizer.with_max_length(args.max_target_tokens)?;

    let rows = read_objects(&args.io.input)?;
    let path = &args.io.input;
    let mut sources = Vec::with_capacity(rows.len());
    let mut targets = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        sources.push(source_tok.encode(string_field(row, &args.source_field, path, *line)?)?);
        targets.push(target_tok.encode(string_field(row, &args.target_field, path, *line)?)?);
    }

    let lengths: Vec<usize> = sources.iter().map(Vec::len).collect();
    let batches = length_sorted_batches(&lengths, args.batch_size);
    let mut results = vec![(0.0f64, 0usize); rows.len()];
    let bar = loratune::progress::bar(rows.len() as u64, "loss");
    let cfg = &model.config;
    for batch_rows in batches {
        let src: Vec<Vec<u32>> = batch_rows.iter().map(|&i| sources[i].clone()).collect();
        let tgt: Vec<Vec<u32>> = batch_rows.iter().map(|&i| targets[i].clone()).collect();
        let batch = Seq2SeqBatch::new(
            &src,
            &tgt,
            cfg.pad_token_id,
            cfg.decoder_start(),
            &model.device,
        )?;
        let sums = model
            .token_nll(&batch, false)?
            .to_dtype(candle_core::DType::F64)?
            .sum(1)?
            .to_vec1::<f64>()?;
        for (k, &i) in batch_rows.iter().enumerate() {
            let tokens = targets[i].len();
            results[i] = (sums[k] / tokens.max(1) as f64, tokens);
        }
        bar.inc(batch_rows.len() as u64);
    }
    bar.finish_and_clear();

    let mut out = AtomicFile::create(&args.io.output)?;
    for ((_, row), (loss, tokens)) in rows.iter().zip(results) {
        let mut obj = serde_json::Map::new();
        obj.insert("loss".into(), json!(loss));
        obj.insert("tokens".into(), json!(tokens));
        out.write_json(&with_id(obj, row))?;
    }
    out.finish()?;
    Ok(())
}
