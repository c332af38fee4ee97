//! `loratune download`: fetch a model or a dataset split into the Hugging Face cache now (for
//! a machine that goes offline later, or to warm a cache that parallel workers share).
use clap::Args;

#[derive(Args)]
pub struct DownloadArgs {
    /// A model (`OWNER/NAME[@REVISION]`) or a dataset split (`hf:OWNER/NAME[:CONFIG]:SPLIT`).
    reference: String,
}

/// Prints the local path of each file, one a line.
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    let paths = match loratune::data::hub_dataset::DatasetSpec::parse(&args.reference) {
        Some(spec) => loratune::data::hub_dataset::resolve(&spec?, None)?,
        None => {
            let files = loratune::hub::resolve_model(&args.reference)?;
            files.paths()
        }
    };
    for path in paths {
        println!("{}", path.display());
    }
    Ok(())
}
