//! Options and helpers shared by several subcommands.
use anyhow::Context;
use clap::Args;
use loratune::device::{DeviceChoice, DtypeChoice};
use loratune::hub::ModelFiles;
use loratune::models::{Kind, Opened, Options};
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// A local model directory or a Hugging Face repo id (`owner/name[@revision]`).
    #[arg(long)]
    pub model: String,
    /// A LoRA adapter directory (PEFT format) to apply.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Weight type: f32, bf16 or f16 (converted at load time).
    #[arg(long, default_value = "f32")]
    pub dtype: DtypeChoice,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
}

impl ModelArgs {
    pub fn files(&self) -> anyhow::Result<ModelFiles> {
        loratune::hub::resolve_model(&self.model)
            .with_context(|| format!("loading model {}", self.model))
    }

    pub fn device(&self) -> anyhow::Result<candle_core::Device> {
        Ok(loratune::device::select_device(self.device)?)
    }

    pub fn dtype(&self) -> anyhow::Result<candle_core::DType> {
        Ok(self.dtype.dtype())
    }

    /// Options to open the model with `--adapter`, `--dtype` and `--device` applied, refusing
    /// a model that is not of the `expect`ed kind.
    pub fn options(&self, expect: Kind) -> anyhow::Result<Options> {
        Ok(Options {
            expect: Some(expect),
            adapter: self.adapter.clone(),
            dtype: self.dtype()?,
            device: self.device()?,
            ..Default::default()
        })
    }

    /// Options for a command that takes a model of either kind.
    pub fn options_any(&self) -> anyhow::Result<Options> {
        Ok(Options {
            expect: None,
            ..self.options(Kind::Seq2Seq)?
        })
    }

    /// Opens the model (and adapter) with these options.
    pub fn open(&self, files: &ModelFiles, options: &Options) -> anyhow::Result<Opened> {
        let what = match &self.adapter {
            Some(dir) => format!(
                "loading model {} with adapter {}",
                self.model,
                dir.display()
            ),
            None => format!("loading model {}", self.model),
        };
        loratune::models::open(files, options).context(what)
    }
}

#[derive(Args, Clone, Debug)]
pub struct IoArgs {
    /// Input JSON Lines file.
    #[arg(long)]
    pub input: PathBuf,
    /// Output JSON Lines file (written atomically).
    #[arg(long)]
    pub output: PathBuf,
}

impl IoArgs {
    /// Refuses an `--output` that cannot be written, before the model loads.
    pub fn check_output(&self) -> anyhow::Result<()> {
        check_output(&self.output)
    }
}

/// Refuses an output file that cannot be written (a folder, a path under a regular file, a
/// folder where no file can be made), before any model loads.
pub fn check_output(path: &std::path::Path) -> anyhow::Result<()> {
    loratune::output::probe::check_writable(path, loratune::output::probe::Output::File)
        .with_context(|| format!("--output {}", path.display()))
}

/// Indices of `lengths` sorted by length (longest first), cut into batches.
pub fn length_sorted_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size.max(1))
        .map(|c| c.to_vec())
        .collect()
}

/// The input row's `id`, copied into output rows when present.
pub fn with_id(
    mut out: serde_json::Map<String, serde_json::Value>,
    row: &loratune::jsonl::Row,
) -> serde_json::Value {
    if let Some(id) = row.get("id") {
        out.insert("id".into(), id.clone());
    }
    serde_json::Value::Object(out)
}

/// `--resume [CHECKPOINT_DIR]` into `train.resume_from_checkpoint` (alone: the newest).
pub fn apply_resume(
    recipe: &mut loratune::recipe::Recipe,
    resume: Option<Option<std::path::PathBuf>>,
) {
    use loratune::recipe::ResumeFrom;
    recipe.train.resume_from_checkpoint = match resume {
        None => return,
        Some(None) => Some(ResumeFrom::Latest(true)),
        Some(Some(dir)) => Some(ResumeFrom::Checkpoint(dir)),
    };
}
