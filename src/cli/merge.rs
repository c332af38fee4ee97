use super::common::ModelArgs;
use super::merge_probe::{max_relative_error, tolerance, Probe};
use anyhow::{bail, Context};
use clap::Args;
use loratune::lora::merge::{check_output, write_merged};
use loratune::models::{Opened, Options};
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Directory for the merged model: a new or empty directory, or a previous merged model
    /// (replaced as a whole, only once the new one is complete).
    #[arg(long)]
    output: PathBuf,
    /// Compare merged and unmerged outputs on a few inputs before publishing; on a mismatch
    /// nothing is written and the command fails.
    #[arg(long)]
    verify: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let Some(adapter) = args.model.adapter.clone() else {
        bail!("merge needs --adapter DIR");
    };
    let files = args.model.files()?;
    check_output(&args.output, &files, &adapter).context("merge --output")?;
    let dtype = args.model.dtype()?;
    let limit = tolerance(dtype);
    // Runs on the merged files before they are published.
    let judge = |error: f64| -> loratune::Result<f64> {
        if args.verify && error > limit {
            return Err(loratune::Error::Config(format!(
                "merge verification failed: merged outputs differ from adapter outputs by {error:e} \
                 (tolerance {limit:e}); nothing was written"
            )));
        }
        Ok(error)
    };
    let options = args.model.options_any()?;
    let Opened { mut model, weights } = args.model.open(&files, &options)?;
    let vocab = loratune::tokenizer::TextTokenizer::load(&files)?.vocab_size();
    let probe = Probe::new(vocab, 3, 24.min(model.max_positions().unwrap_or(24)), 7);
    let before = probe.logits(&model)?;
    let edit = model.merged_config_edit();
    let merged_options = Options {
        adapter: None,
        ..options.clone()
    };
    let error = write_merged(
        &mut model,
        &weights,
        &files,
        &adapter,
        &args.output,
        edit,
        |dir| {
            let merged_files = loratune::hub::resolve_model(&dir.to_string_lossy())?;
            let merged = loratune::models::open(&merged_files, &merged_options)?.model;
            judge(max_relative_error(&before, &probe.logits(&merged)?)?)
        },
    )
    .with_context(|| format!("writing merged model to {}", args.output.display()))?;
    if args.verify {
        println!(
            "verified: merged vs adapter outputs differ by at most {error:e} (tolerance {limit:e})"
        );
    }
    println!(
        "merged model written to {} (adapter {})",
        args.output.display(),
        adapter.display()
    );
    Ok(())
}
