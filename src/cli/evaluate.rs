use clap::Args;
use loratune::eval::evaluate::{evaluate_recipe, Evaluation};
use loratune::recipe::Recipe;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    /// The recipe (its [data] test split, [eval] samples/seed and generation settings).
    recipe: PathBuf,
    /// The tuned adapter (PEFT format).
    #[arg(long)]
    adapter: PathBuf,
    /// Override a recipe key, e.g. --set eval.samples=100 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let recipe = Recipe::load(&args.recipe, &args.overrides)?;
    loratune::pipeline::preflight(&recipe, loratune::pipeline::Job::Evaluate)?;
    loratune::pipeline::check_adapter(&args.adapter, "--adapter")?;
    let evaluation = evaluate_recipe(&recipe, &args.adapter)?;
    print_evaluation(&evaluation);
    Ok(())
}

pub fn print_evaluation(evaluation: &Evaluation) {
    print!(
        "{}",
        loratune::eval::report::format_table(&evaluation.written.summary)
    );
    let (name, base, tuned) = &evaluation.headline;
    println!("{name}: base {base:.4} → tuned {tuned:.4}");
    println!("report: {}", evaluation.written.paths.index_html.display());
}
