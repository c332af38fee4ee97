use super::common::{length_sorted_batches, with_id, IoArgs, ModelArgs};
use clap::Args;
use loratune::generate::{greedy, GenerationSettings};
use loratune::jsonl::{read_objects, string_field, AtomicWriter};
use loratune::tokenizer::TextTokenizer;
use serde_json::json;

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
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let files = args.model.files()?;
    let mut model = loratune::models::load_t5(&files, args.model.dtype()?, &args.model.device()?)?;
    args.model.apply_adapter(&mut model)?;
    let tokenizer = TextTokenizer::load(&files)?;
    let source_tok = tokenizer.with_max_length(args.max_source_tokens)?;

    let rows = read_objects(&args.io.input)?;
    let mut sources = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        sources.push(source_tok.encode(string_field(row, &args.source_field, &args.io.input, *line)?)?);
    }
    let settings = GenerationSettings {
        max_new_tokens: args.max_new_tokens,
    };
    let lengths: Vec<usize> = sources.iter().map(Vec::len).collect();
    let mut generated = vec![String::new(); rows.len()];
    let bar = loratune::progress::bar(rows.len() as u64, "generate");
    for batch_rows in length_sorted_batches(&lengths, args.batch_size) {
        let src: Vec<Vec<u32>> = batch_rows.iter().map(|&i| sources[i].clone()).collect();
        let outputs = greedy(&model, &src, &settings)?;
        for (&i, ids) in batch_rows.iter().zip(outputs) {
            generated[i] = tokenizer.decode(&ids)?;
        }
        bar.inc(batch_rows.len() as u64);
    }
    bar.finish_and_clear();

    let mut out = AtomicWriter::create(&args.io.output)?;
    for ((_, row), text) in rows.iter().zip(generated) {
        let mut obj = serde_json::Map::new();
        obj.insert("generated".into(), json!(text));
        out.write_json(&with_id(obj, row))?;
    }
    out.finish()?;
    Ok(())
}
