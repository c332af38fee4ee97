//! Subcommands.
mod adapter;
mod classify;
mod common;
mod download;
mod evaluate;
mod generate;
mod loss;
mod merge;
mod merge_probe;
mod plot;
mod quickstart;
mod run;
mod score;
mod search;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loratune",
    version,
    about = "Fine-tune FLAN-T5 and DistilBERT/BERT models with LoRA, evaluate them against their base model, and ship PEFT-compatible adapters"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Per-example cross-entropy of a target given a source (as Transformers' model(input_ids, labels=...).loss).
    Loss(loss::LossArgs),
    /// Generate text for each source with an encoder-decoder model (greedy decoding).
    Generate(generate::GenerateArgs),
    /// Fine-tune with LoRA as a recipe describes; writes the adapter, checkpoints and metrics.
    Train(train::TrainArgs),
    /// A real LoRA fine-tune and base-vs-tuned report that works offline (sentiment on IMDB).
    Quickstart(quickstart::QuickstartArgs),
    /// Train, then evaluate base vs tuned and write the report (the main job).
    Run(run::RunArgs),
    /// Compare the base model and a tuned adapter on random test examples; writes a report.
    Evaluate(evaluate::EvaluateArgs),
    /// Fold a LoRA adapter into the base weights and write a model directory Transformers loads.
    Merge(merge::MergeArgs),
    /// ROUGE and BERTScore of prediction/reference pairs, per line, with the means.
    Score(score::ScoreArgs),
    /// Inspect adapters (`adapter check`).
    Adapter(adapter::AdapterArgs),
    /// Classify each text with a BERT or DistilBERT sequence classifier (label, logits, probabilities).
    Classify(classify::ClassifyArgs),
    /// Hyperparameter search (grid, random, TPE) with pruning, as a study many workers share.
    Search(search::SearchArgs),
    /// Fetch a Hub model or dataset split into the Hugging Face cache; prints the local paths.
    Download(download::DownloadArgs),
    /// Draw training curves (loss, learning rate, gradient norm, validation metrics) of one run or several overlaid.
    Plot(plot::PlotArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Loss(args) => loss::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::Run(args) => run::run(args),
        Command::Quickstart(args) => quickstart::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Adapter(args) => adapter::run(args),
        Command::Score(args) => score::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Search(args) => search::run(args),
        Command::Download(args) => download::run(args),
        Command::Plot(args) => plot::run(args),
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a log redirected to a file or a pipe stays plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
