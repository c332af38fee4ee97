//! The main job: train, evaluate base vs tuned, optionally merge.
use crate::error::Result;
use crate::eval::evaluate::{evaluate_recipe, Evaluation};
use crate::lora::merge::write_merged;
use crate::models::Opened;
use crate::recipe::Recipe;
use std::path::PathBuf;

pub struct RunOutcome {
    pub adapter: PathBuf,
    pub merged: Option<PathBuf>,
    pub evaluation: Evaluation,
    pub train_seconds: f64,
}

pub fn run_recipe(recipe: &Recipe, merge: bool) -> Result<RunOutcome> {
    let report = crate::train::job::train_recipe(recipe)?;
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
