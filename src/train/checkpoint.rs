//! Checkpoints: everything a run needs to continue exactly where it stopped.
//!
//! `checkpoints/step-N/` holds the adapter (PEFT's two files), the optimizer's moments, the
//! resolved recipe, `trainer_state.json` (step, epoch and position inside it, the optimizer's
//! step count, best metric, the losses of the open logging window, every callback's state) and,
//! with `save_best`, a copy of the best adapter. The random streams need nothing: every draw is
//! addressed by (seed, step, micro-batch, module) (`crate::rng`). A directory is written whole
//! or not at all (`AtomicDir`), so a kill while it is written leaves the previous checkpoints as
//! they were.
use super::optimizer::AdamW;
use crate::error::{Error, Result};
use crate::lora::{peft, LoraConfig};
use crate::output::{AtomicDir, Replace};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub(crate) const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub(crate) const STATE_FILE: &str = "trainer_state.json";
/// The resolved recipe of the run that wrote the checkpoint (compared on `--resume`).
pub(crate) const RECIPE_FILE: &str = "recipe.toml";
/// With `save_best`: the best adapter so far.
pub(crate) const BEST_DIR: &str = "best-adapter";
/// Checkpoints live in `OUTPUT_DIR/checkpoints/step-N`.
pub(crate) const FOLDER: &str = "checkpoints";
/// The layout written here; `--resume` refuses another.
const FORMAT: u32 = 2;

/// Where the data loop stands after an optimizer step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// Epochs begun before the current one.
    pub(crate) epoch_index: u64,
    /// Optimizer steps (groups of micro-batches) done in the current epoch.
    pub(crate) steps_in_epoch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    #[serde(default)]
    pub(crate) format: u32,
    pub(crate) global_step: usize,
    pub(crate) epoch: f64,
    pub(crate) best_metric: Option<f64>,
    pub(crate) best_step: Option<usize>,
    #[serde(default)]
    pub(crate) position: Position,
    /// AdamW's completed steps (its bias correction).
    #[serde(default)]
    pub(crate) optimizer_step: usize,
    /// Pieces each micro-batch was cut in (`auto_batch_size`).
    #[serde(default = "one")]
    pub(crate) split: usize,
    /// Steps skipped for non-finite values.
    #[serde(default)]
    pub(crate) skipped_steps: usize,
    /// Losses of the steps since the last training log line.
    #[serde(default)]
    pub(crate) log_window: Vec<f64>,
    /// Loss of every optimizer step so far.
    #[serde(default)]
    pub(crate) step_losses: Vec<f64>,
    /// Each stateful callback's state under its name (early stopping's counter, ...).
    #[serde(default)]
    pub(crate) callbacks: BTreeMap<String, serde_json::Value>,
}

fn one() -> usize {
    1
}

impl TrainerState {
    pub(crate) fn new(global_step: usize, epoch: f64) -> Self {
        Self {
            format: FORMAT,
            global_step,
            epoch,
            best_metric: None,
            best_step: None,
            position: Position::default(),
            optimizer_step: 0,
            split: 1,
            skipped_steps: 0,
            log_window: Vec::new(),
            step_losses: Vec::new(),
            callbacks: BTreeMap::new(),
        }
    }
}

/// What a checkpoint is made of.
pub(crate) struct Snapshot<'a> {
    pub(crate) params: &'a [(String, Var)],
    pub(crate) config: &'a LoraConfig,
    pub(crate) optimizer: &'a AdamW,
    pub(crate) state: &'a TrainerState,
    pub(crate) recipe_toml: Option<&'a str>,
    /// The best adapter so far, copied in (with `save_best`).
    pub(crate) best_adapter: Option<&'a Path>,
}

/// The folder of the checkpoint after `step`.
pub(crate) fn dir_of(output_dir: &Path, step: usize) -> PathBuf {
    output_dir.join(FOLDER).join(format!("step-{step}"))
}

/// Writes `dir` as a whole: a kill while it is written leaves no partial checkpoint (only a
/// marked temporary sibling, cleaned by the next run).
pub(crate) fn save(dir: &Path, snapshot: &Snapshot) -> Result<()> {
    let out = AtomicDir::begin(dir, Replace::IfHolds(STATE_FILE))?;
    peft::write_parameters(&out, snapshot.params, snapshot.config)?;
    super::kill_point::reached("checkpoint-half-written", snapshot.state.global_step);
    let mut moments: HashMap<String, Tensor> = HashMap::new();
    for ((name, _), (m, v)) in snapshot.params.iter().zip(snapshot.optimizer.state()) {
        moments.insert(format!("{name}.exp_avg"), m);
        moments.insert(format!("{name}.exp_avg_sq"), v);
    }
    out.write_tensors(OPTIMIZER_FILE, &moments)?;
    if let Some(recipe) = snapshot.recipe_toml {
        out.write(RECIPE_FILE, recipe.as_bytes())?;
    }
    if let Some(best) = snapshot.best_adapter.filter(|b| b.is_dir()) {
        let inside = out.path().join(BEST_DIR);
        std::fs::create_dir(&inside).map_err(|e| Error::io(&inside, e))?;
        for name in [peft::CONFIG_FILE, peft::WEIGHTS_FILE] {
            let (from, to) = (best.join(name), inside.join(name));
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    let json =
        serde_json::to_string_pretty(snapshot.state).map_err(|e| Error::Config(e.to_string()))?;
    out.write(STATE_FILE, json.as_bytes())?;
    out.commit()
}

/// Reads a checkpoint's state after checking its layout.
pub(crate) fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let state: TrainerState =
        serde_json::from_str(&text).map_err(|e| Error::file(&path, e.to_string()))?;
    if state.format != FORMAT {
        return Err(Error::file(
            &path,
            format!(
                "this checkpoint was written by an earlier loratune (layout {}, this one reads {FORMAT}) \
                 and lacks what an exact resume needs; start the run again",
                state.format
            ),
        ));
    }
    Ok(state)
}

/// Puts the checkpoint's adapter into `params` and its moments into `optimizer`; returns its
/// state. Every tensor must be there with the parameter's shape.
pub(crate) fn load(
    dir: &Path,
    params: &[(String, Var)],
    optimizer: &mut AdamW,
) -> Result<TrainerState> {
    let state = read_state(dir)?;
    let device = params
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let weights_path = dir.join(peft::WEIGHTS_FILE);
    let weights = candle_core::safetensors::load(&weights_path, &device)
        .map_err(|e| Error::file(&weights_path, e.to_string()))?;
    let moments_path = dir.join(OPTIMIZER_FILE);
    let moments = candle_core::safetensors::load(&moments_path, &device)
        .map_err(|e| Error::file(&moments_path, e.to_string()))?;
    let take = |map: &HashMap<String, Tensor>, key: &str, path: &Path, like: &Var| {
        let t = map.get(key).ok_or_else(|| {
            Error::file(
                path,
                format!("has no tensor {key}: the checkpoint is not of this run's adapter"),
            )
        })?;
        if t.dims() != like.dims() {
            return Err(Error::file(
                path,
                format!(
                    "{key} has shape {:?}, the run's parameter has {:?}",
                    t.dims(),
                    like.dims()
                ),
            ));
        }
        Ok(t.clone())
    };
    let mut restored = Vec::with_capacity(params.len());
    for (name, var) in params {
        let value = take(&weights, name, &weights_path, var)?;
        var.set(&value.to_dtype(var.dtype())?)?;
        restored.push((
            take(&moments, &format!("{name}.exp_avg"), &moments_path, var)?,
            take(&moments, &format!("{name}.exp_avg_sq"), &moments_path, var)?,
        ));
    }
    optimizer.restore(restored, state.optimizer_step)?;
    Ok(state)
}

/// The complete checkpoints of a run, oldest first, as (step, folder).
pub(crate) fn list(output_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let folder = output_dir.join(FOLDER);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
        let entry = entry.map_err(|e| Error::io(&folder, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // temporary siblings of a checkpoint being written start with '.'
        let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) else {
            continue;
        };
        if entry.path().join(STATE_FILE).is_file() {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The newest complete checkpoint of a run (`--resume` without a folder).
pub(crate) fn latest(output_dir: &Path) -> Result<PathBuf> {
    list(output_dir)?.pop().map(|(_, p)| p).ok_or_else(|| {
        Error::file(
            output_dir.join(FOLDER),
            "holds no checkpoint to resume from (set train.save_steps so that a run writes them)",
        )
    })
}

/// `train.save_total_limit`: deletes the oldest checkpoints beyond the newest `keep`, never
/// the best one (the checkpoint of the best evaluation's step).
pub(crate) fn prune(output_dir: &Path, keep: usize, best_step: Option<usize>) -> Result<()> {
    let all = list(output_dir)?;
    let excess = all.len().saturating_sub(keep);
    for (step, dir) in all.into_iter().take(excess) {
        if Some(step) == best_step {
            continue;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(())
}
