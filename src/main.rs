//! The `loratune` command line: a thin layer over the library.
mod cli;

use clap::Parser;

/// candle allocates a fresh buffer for every intermediate tensor; glibc's malloc returns large
/// blocks to the OS and page-faults them back in on every step, mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    if let Err(error) = cli::run(args) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
