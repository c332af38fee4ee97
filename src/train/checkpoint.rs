//! Checkpoints: the adapter plus the optimizer's moments and the trainer's position, so a
//! run can resume where it stopped.
use super::optimizer::AdamW;
use crate::error::{Error, Result};
use crate::lora::{peft, LoraConfig};
use crate::output::{AtomicDir, Replace};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub(crate) const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub(crate) const STATE_FILE: &str = "trainer_state.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    pub(crate) global_step: usize,
    pub(crate) epoch: f64,
    pub(crate) best_metric: Option<f64>,
    pub(crate) best_step: Option<usize>,
}

/// Writes `dir` as a whole: a kill while it is written leaves no partial checkpoint (only a
/// marked temporary sibling, cleaned by the next run).
pub(crate) fn save(
    dir: &Path,
    params: &[(String, Var)],
    config: &LoraConfig,
    optimizer: &AdamW,
    state: &TrainerState,
) -> Result<()> {
    let out = AtomicDir::begin(dir, Replace::IfHolds(STATE_FILE))?;
    peft::write_parameters(&out, params, config)?;
    let mut moments: HashMap<String, Tensor> = HashMap::new();
    for ((name, _), (m, v)) in params.iter().zip(optimizer.state()) {
        moments.insert(format!("{name}.exp_avg"), m);
        moments.insert(format!("{name}.exp_avg_sq"), v);
    }
    out.write_tensors(OPTIMIZER_FILE, &moments)?;
    let json = serde_json::to_string_pretty(state).map_err(|e| Error::Config(e.to_string()))?;
    out.write(STATE_FILE, json.as_bytes())?;
    out.commit()
}
