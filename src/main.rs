//! The `loratune` command line: a thin layer over the library.
mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    if let Err(error) = cli::run(args) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
