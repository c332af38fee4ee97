use super::common::ModelArgs;
use anyhow::{bail, Context};
use clap::Args;
use loratune::lora::merge::write_merged;
use loratune::lora::verify::{max_relative_error, tolerance, Probe};
use loratune::models::{open_classifier, ClassifierOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Directory for the merged model (replaced atomically).
    #[arg(long)]
    output: PathBuf,
    /// Compare merged and unmerged outputs on a few inputs and fail on a mismatch.
    #[arg(long)]
    verify: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let Some(adapter) = args.model.adapter.clone() else {
        bail!("merge needs --adapter DIR");
    };
    let files = args.model.files()?;
    let dtype = args.model.dtype()?;
    let device = args.model.device()?;
    let output = args.output.to_string_lossy().to_string();
    let error = if loratune::models::model_type(&files)? == "t5" {
        let (mut model, weights) = loratune::models::load_t5_with_weights(&files, dtype, &device)?;
        args.model.apply_adapter(&mut model)?;
        let probe = Probe::new(model.config.vocab_size, 3, 24, 7);
        let before = probe.t5_logits(&model)?;
        write_merged(&mut model, &weights, &files, &args.output, |_| {})
            .with_context(|| format!("writing merged model to {}", args.output.display()))?;
        let merged =
            loratune::models::load_t5(&loratune::hub::resolve_model(&output)?, dtype, &device)?;
        max_relative_error(&before, &probe.t5_logits(&merged)?)?
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
        write_merged(&mut model, &weights, &files, &args.output, |config| {
            config["architectures"] = serde_json::json!([class]);
            labels.write_config(config);
        })
        .with_context(|| format!("writing merged model to {}", args.output.display()))?;
        let (merged, _) = open_classifier(
            &loratune::hub::resolve_model(&output)?,
            &ClassifierOptions::default(),
            dtype,
            &device,
        )?;
        max_relative_error(&before, &probe.classifier_logits(&merged)?)?
    };
    let limit = tolerance(dtype);
    if args.verify {
        if error > limit {
            bail!("merge verification failed: merged outputs differ from adapter outputs by {error:e} (tolerance {limit:e})");
        }
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
