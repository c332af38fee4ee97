use anyhow::Context;
use clap::{Args, Subcommand};
use loratune::lora::peft::{apply, Adapter, ApplyReport};
use loratune::models::Options;
use std::path::PathBuf;

#[derive(Args)]
pub struct AdapterArgs {
    #[command(subcommand)]
    command: AdapterCommand,
}

#[derive(Subcommand)]
enum AdapterCommand {
    /// Check an adapter against a model: matched and unmatched target modules, missing and
    /// unexpected tensors, and whether PEFT will load it.
    Check {
        /// The base model (directory or Hub id).
        #[arg(long)]
        model: String,
        /// The adapter directory (adapter_config.json + adapter_model.safetensors).
        #[arg(long)]
        adapter: PathBuf,
    },
}

pub fn run(args: AdapterArgs) -> anyhow::Result<()> {
    match args.command {
        AdapterCommand::Check { model, adapter } => check(&model, &adapter),
    }
}

fn check(model_ref: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let files = loratune::hub::resolve_model(model_ref)
        .with_context(|| format!("loading model {model_ref}"))?;
    let device = candle_core::Device::Cpu;
    let dtype = candle_core::DType::F32;
    let adapter = Adapter::read(dir, dtype, &device)?;
    let options = Options {
        num_labels: adapter.head_labels(),
        dtype,
        device,
        ..Default::default()
    };
    let mut model = loratune::models::open(&files, &options)?.model;
    let c = &adapter.config;
    println!(
        "adapter {} (LoRA r={} alpha={} dropout={}, task {:?}, base {})",
        dir.display(),
        c.r,
        c.lora_alpha,
        c.lora_dropout,
        c.task_type,
        c.base_model_name_or_path.as_deref().unwrap_or("?")
    );
    let report = match apply(&mut model, &adapter) {
        Ok(report) => report,
        Err(e) => {
            println!("shapes: MISMATCH: {e}");
            println!("PEFT will load it: no (size mismatch)");
            anyhow::bail!("the adapter does not fit {model_ref}");
        }
    };
    print_report(&report, &c.target_names());
    let (verdict, fits) = verdict(&report);
    println!("PEFT will load it: {verdict}");
    if !fits {
        anyhow::bail!("the adapter does not fit {model_ref}");
    }
    Ok(())
}

fn print_list(title: &str, items: &[String]) {
    if items.is_empty() {
        println!("{title}: none");
    } else {
        println!("{title} ({}):", items.len());
        for item in items {
            println!("  {item}");
        }
    }
}

fn print_report(report: &ApplyReport, targets: &[String]) {
    println!("target_modules {targets:?}");
    print_list("matched LoRA modules", &report.adapted);
    print_list(
        "unmatched target_modules entries",
        &report.unmatched_targets,
    );
    print_list("saved modules (modules_to_save)", &report.saved);
    print_list("missing tensors", &report.missing);
    print_list("unexpected tensors", &report.unexpected);
}

/// PEFT raises when no target matches and on shape mismatches; missing or unexpected
/// tensors only warn (missing LoRA weights keep their initial values).
fn verdict(report: &ApplyReport) -> (String, bool) {
    if report.adapted.is_empty() {
        return (
            "no (PEFT raises: no target module matches this model)".into(),
            false,
        );
    }
    if report.is_complete() {
        ("yes".into(), true)
    } else {
        (
            "yes, with warnings (missing or unexpected tensors; outputs will differ)".into(),
            false,
        )
    }
}
