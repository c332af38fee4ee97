use super::common::ModelArgs;
use super::merge_probe::{max_relative_error, tolerance, Probe};
use anyhow::{bail, Context};
use clap::Args;
use loratune::lora::merge::{check_output, write_merged};
use loratune::models::{open_classifier, ClassifierOptions};
use std::path::{Path, PathBuf};

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
    let device = args.model.device()?;
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
    let resolve = |dir: &Path| loratune::hub::resolve_model(&dir.to_string_lossy());
    let error = if loratune::models::model_type(&files)? == "t5" {
        let (mut model, weights) = loratune::models::load_t5_with_weights(&files, dtype, &device)?;
        args.model.apply_adapter(&mut model)?;
        let probe = Probe::new(model.config.vocab_size, 3, 24, 7);
        let before = probe.t5_logits(&model)?;
        write_merged(
            &mut model,
            &weights,
            &files,
            &adapter,
            &args.output,
            |_| {},
            |dir| {
                let merged = loratune::models::load_t5(&resolve(dir)?, dtype, &device)?;
                judge(max_relative_error(&before, &probe.t5_logits(&merged)?)?)
            },
        )
    } else {
        let options = ClassifierOptions {
            adapter: Some(adapter.clone()),
            ..Default::default()
        };
        let (mut model, weights) = open_classifier(&files, &options, dtype, &device)?;
        let vocab = loratune::tokenizer::TextTokenizer::load(&files)?.vocab_size();
        let probe = Probe::new(vocab, 3, 24.min(model.max_positions()), 7);
        let before = probe.classifier_logits(&model)?;
        let (class, labels) = (model.class_name(), model.labels.clone());
        write_merged(
            &mut model,
            &weights,
            &files,
            &adapter,
            &args.output,
            |config| {
                config["architectures"] = serde_json::json!([class]);
                labels.write_config(config);
            },
            |dir| {
                let options = ClassifierOptions::default();
                let (merged, _) = open_classifier(&resolve(dir)?, &options, dtype, &device)?;
                judge(max_relative_error(
                    &before,
                    &probe.classifier_logits(&merged)?,
                )?)
            },
        )
    }
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
