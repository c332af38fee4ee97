//! The main job: train, evaluate base vs tuned, optionally merge.
use crate::error::{Error, Result};
use crate::eval::evaluate::{evaluate_recipe, Evaluation};
use crate::eval::training_curves::write_run_figures;
use crate::lora::merge::write_merged;
use crate::lora::peft;
use crate::models::Opened;
use crate::output::probe::Output;
use crate::recipe::Recipe;
use crate::train::TrainReport;
use std::path::{Path, PathBuf};

pub struct RunOutcome {
    pub adapter: PathBuf,
    pub merged: Option<PathBuf>,
    pub evaluation: Evaluation,
    pub train_seconds: f64,
}

pub fn run_recipe(recipe: &Recipe, merge: bool) -> Result<RunOutcome> {
    preflight(recipe, Job::Run)?;
    let report = train_recipe(recipe)?;
    let evaluation = evaluate_recipe(recipe, &report.adapter_dir)?;
    let merged = if merge {
        Some(merge_adapter(recipe, &report.adapter_dir)?)
    } else {
        None
    };
    Ok(RunOutcome {
        adapter: report.adapter_dir,
        merged,
        evaluation,
        train_seconds: report.seconds,
    })
}

/// Trains, then draws the run's training curves (`OUTPUT_DIR/training.png` and `.svg`).
/// The adapter is what the run is for: a figure that cannot be drawn is a warning, not a
/// failed run.
pub fn train_recipe(recipe: &Recipe) -> Result<TrainReport> {
    let report = crate::train::job::train_recipe(recipe)?;
    if let Err(e) = write_run_figures(&recipe.train.output_dir) {
        tracing::warn!("training curves not drawn: {e}");
    }
    Ok(report)
}

/// Writes OUTPUT_DIR/merged: the base model with the adapter folded in.
pub(crate) fn merge_adapter(recipe: &Recipe, adapter: &std::path::Path) -> Result<PathBuf> {
    let files = crate::hub::resolve_model(&recipe.model.name)?;
    let output = recipe.train.output_dir.join("merged");
    crate::lora::merge::check_output(&output, &files, adapter)?;
    let options = crate::models::Options {
        adapter: Some(adapter.to_path_buf()),
        labels: recipe.model.labels.clone(),
        dtype: recipe.model.dtype.dtype(),
        device: crate::device::select_device(recipe.train.device)?,
        ..Default::default()
    };
    let Opened { mut model, weights } = crate::models::open(&files, &options)?;
    let edit = model.merged_config_edit();
    write_merged(&mut model, &weights, &files, adapter, &output, edit, |_| {
        Ok(())
    })?;
    Ok(output)
}

/// What a job will do, for [`preflight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `train`: trains and writes `train.output_dir`.
    Train,
    /// `run`: trains, then evaluates on the test split.
    Run,
    /// `evaluate`: evaluates an adapter on the test split.
    Evaluate,
}

/// Checks everything a job needs before any weights load, so that a mistake is refused in
/// seconds rather than after training: every local data file exists and can be read,
/// `lora.init_adapter` holds its two files (and its config agrees with the recipe), the model (and `eval.bertscore_model`, whose
/// `bertscore_layer` must exist) resolves, evaluation has a test split, and
/// `train.output_dir` can be written.
pub fn preflight(recipe: &Recipe, job: Job) -> Result<()> {
    let d = &recipe.data;
    let trains = job != Job::Evaluate;
    let evaluates = job != Job::Train;
    if trains && d.train.is_none() {
        return Err(Error::Config(
            "data.train is not set: training needs a training file".into(),
        ));
    }
    if evaluates && d.test.is_none() && d.validation.is_none() {
        return Err(Error::Config(
            "evaluation needs data.test (or data.validation): set one before training".into(),
        ));
    }
    let used = d.local_files().filter(|(key, _)| match *key {
        "data.train" => trains,
        "data.test" => evaluates,
        _ => true,
    });
    for (key, path) in used {
        std::fs::File::open(path)
            .map_err(|e| Error::Config(format!("{key} = \"{path}\": cannot be read ({e})")))?;
        if Path::new(path).is_dir() {
            return Err(Error::Config(format!(
                "{key} = \"{path}\": is a folder, not a data file"
            )));
        }
    }
    if let Some(dir) = recipe.lora.init_adapter.as_ref().filter(|_| trains) {
        check_adapter(dir, "lora.init_adapter")?;
        crate::lora::init_adapter::checked_config(recipe, None)?;
    }
    let files = crate::hub::resolve_model(&recipe.model.name)?;
    for path in std::iter::once(&files.config)
        .chain(&files.weights)
        .chain(std::iter::once(&files.tokenizer))
    {
        if !path.is_file() {
            return Err(Error::file(path, "is missing (model.name)"));
        }
    }
    if evaluates {
        if let Some(model) = &recipe.eval.bertscore_model {
            bertscore_preflight(model, recipe.eval.bertscore_layer)?;
        }
    }
    crate::output::probe::check_writable(&recipe.train.output_dir, Output::Dir)
}

/// An adapter folder (`what`: the key or option that named it) holds a PEFT adapter's two
/// files.
pub fn check_adapter(dir: &Path, what: &str) -> Result<()> {
    for file in [peft::CONFIG_FILE, peft::WEIGHTS_FILE] {
        if !dir.join(file).is_file() {
            return Err(Error::Config(format!(
                "{what} = \"{}\": {file} is missing",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// `eval.bertscore_model` resolves and has the `eval.bertscore_layer` asked for.
fn bertscore_preflight(model: &str, layer: Option<usize>) -> Result<()> {
    let files = crate::hub::resolve_model(model)
        .map_err(|e| Error::Config(format!("eval.bertscore_model = \"{model}\": {e}")))?;
    let config: serde_json::Value = crate::hub::read_json(&files.config)?;
    let layers = config
        .get("num_hidden_layers")
        .or_else(|| config.get("n_layers"))
        .and_then(|v| v.as_u64());
    if let (Some(layer), Some(layers)) = (layer, layers) {
        if layer as u64 > layers {
            return Err(Error::Config(format!(
                "eval.bertscore_layer = {layer}: must be at most {layers} (the layers of {model}, per {})",
                files.config.display()
            )));
        }
    }
    Ok(())
}
