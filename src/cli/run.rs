use super::evaluate::print_evaluation;
use clap::Args;
use loratune::recipe::Recipe;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// The recipe (TOML).
    recipe: PathBuf,
    /// Override a recipe key, e.g. --set data.train=../shared/data/imdb/train.jsonl (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// Replace a previous run in train.output_dir (as train.overwrite_output_dir = true).
    #[arg(long)]
    overwrite: bool,
    /// Continue the run from a checkpoint: the newest in train.output_dir/checkpoints when no
    /// folder is named (as train.resume_from_checkpoint).
    #[arg(long, value_name = "CHECKPOINT_DIR", num_args = 0..=1)]
    resume: Option<Option<PathBuf>>,
    /// Also write the adapter merged into the base weights (OUTPUT_DIR/merged).
    #[arg(long)]
    merge: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut recipe = Recipe::load(&args.recipe, &args.overrides)?;
    recipe.train.overwrite_output_dir |= args.overwrite;
    super::common::apply_resume(&mut recipe, args.resume);
    let evaluation = loratune::pipeline::run_recipe(&recipe, args.merge)?;
    print_evaluation(&evaluation.evaluation);
    println!("training: {:.0} s", evaluation.train_seconds);
    println!("adapter: {}", evaluation.adapter.display());
    if let Some(merged) = &evaluation.merged {
        println!("merged model: {}", merged.display());
    }
    Ok(())
}
