use super::common::ModelArgs;
use anyhow::{bail, Context};
use clap::Args;
use loratune::lora::merge::write_merged;
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
    let (mut model, weights) = loratune::models::load_t5_with_weights(&files, dtype, &device)?;
    args.model.apply_adapter(&mut model)?;
    let probe = loratune::lora::verify::Probe::new(model.config.vocab_size, 3, 24, 7);
    let before = if args.verify { Some(probe.t5_logits(&model)?) } else { None };
    write_merged(&mut model, &weights, &files, &args.output, |_| {})
        .with_context(|| format!("writing merged model to {}", args.output.display()))?;
    if let Some(before) = before {
        let merged_files = loratune::hub::resolve_model(&args.output.to_string_lossy())?;
        let merged = loratune::models::load_t5(&merged_files, dtype, &device)?;
        let after = probe.t5_logits(&merged)?;
        let error = loratune::lora::verify::max_relative_error(&before, &after)?;
        let tolerance = loratune::lora::verify::tolerance(dtype);
        if error > tolerance {
            bail!("merge verification failed: merged outputs differ from adapter outputs by {error:e} (tolerance {tolerance:e})");
        }
        println!("verified: merged vs adapter outputs differ by at most {error:e} (tolerance {tolerance:e})");
    }
    println!("merged model written to {} (adapter {})", args.output.display(), adapter.display());
    Ok(())
}
