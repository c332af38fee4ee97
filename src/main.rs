//! The `loratune` command line: a thin layer over the library.
mod cli;

use clap::Parser;

/// See `loratune::runtime`.
#[global_allocator]
static GLOBAL: loratune::runtime::MiMalloc = loratune::runtime::MiMalloc;

fn main() {
    loratune::runtime::init();
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    if let Err(error) = cli::run(args) {
        if loratune::output::cleanup::interrupted() {
            // The interrupt handler is cleaning up and will exit with 130.
            loop {
                std::thread::park();
            }
        }
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
