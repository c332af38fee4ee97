use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct PlotArgs {
    /// Run folders (each with its metrics.jsonl): one run, or several overlaid.
    #[arg(required = true, value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Where to write the figure (.png or .svg). Default: training.png and training.svg in the
    /// run folder (one run) or in the current folder (several).
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let written = loratune::eval::training_curves::write_plot(&args.runs, args.output.as_deref())?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
