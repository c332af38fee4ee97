use super::evaluate::print_evaluation;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct QuickstartArgs {
    /// Where the adapter, metrics and report go.
    #[arg(long, default_value = "runs/quickstart")]
    output: PathBuf,
    /// Training reviews (a seeded random subset).
    #[arg(long, default_value_t = 3200)]
    train_samples: usize,
    /// Test reviews scored for base and tuned.
    #[arg(long, default_value_t = 500)]
    test_samples: usize,
    #[arg(long, default_value_t = 1.0)]
    epochs: f64,
    /// Tokens per review.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
}

pub fn run(args: QuickstartArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let choice = loratune::quickstart::choose(
        &args.output,
        args.train_samples,
        args.test_samples,
        args.epochs,
        args.max_tokens,
    )?;
    println!(
        "quickstart: LoRA fine-tune of {} for sentiment on IMDB",
        choice.model
    );
    println!(
        "  train: {} ({} reviews), test: {} ({} reviews)",
        choice.train, args.train_samples, choice.test, args.test_samples
    );
    let outcome = loratune::pipeline::run_recipe(&choice.recipe, false)?;
    print_evaluation(&outcome.evaluation);
    let (_, base, tuned) = outcome.evaluation.headline;
    println!(
        "F1 base {base:.3} → tuned {tuned:.3} (training {:.0} s, total {:.0} s)",
        outcome.train_seconds,
        started.elapsed().as_secs_f64()
    );
    println!("adapter: {}", outcome.adapter.display());
    Ok(())
}
