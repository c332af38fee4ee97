use clap::Args;
use loratune::recipe::Recipe;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// The recipe (TOML): [model], [data], [lora], [train], [eval].
    recipe: PathBuf,
    /// Override a recipe key, e.g. --set train.learning_rate=3e-4 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// Replace a previous run in train.output_dir (as train.overwrite_output_dir = true).
    #[arg(long)]
    overwrite: bool,
    /// Continue the run from a checkpoint: the newest in train.output_dir/checkpoints when no
    /// folder is named (as train.resume_from_checkpoint).
    #[arg(long, value_name = "CHECKPOINT_DIR", num_args = 0..=1)]
    resume: Option<Option<PathBuf>>,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut recipe = Recipe::load(&args.recipe, &args.overrides)?;
    recipe.train.overwrite_output_dir |= args.overwrite;
    super::common::apply_resume(&mut recipe, args.resume);
    loratune::pipeline::preflight(&recipe, loratune::pipeline::Job::Train)?;
    let report = loratune::pipeline::train_recipe(&recipe)?;
    println!(
        "trained {} steps in {:.1} s; final loss {:.4}",
        report.steps,
        report.seconds,
        report.step_losses.last().copied().unwrap_or(f64::NAN)
    );
    if let Some((step, value)) = report.best {
        println!("best validation metric {value:.4} at step {step}");
    }
    println!("adapter: {}", report.adapter_dir.display());
    println!("metrics: {}", report.metrics_path.display());
    let curves = recipe
        .train
        .output_dir
        .join(loratune::eval::training_curves::PNG_FILE);
    if curves.is_file() {
        println!("training curves: {}", curves.display());
    }
    Ok(())
}
