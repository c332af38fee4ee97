//! The training loop: batches, gradient accumulation, AdamW, schedule, clipping, evaluation,
//! checkpoints, best-model selection, and the "is it learning?" guard.
use super::checkpoint::{self, TrainerState};
use super::metrics::MetricsLog;
use super::optimizer::{clip_factor, AdamW};
use super::schedule::learning_rate;
use crate::error::{Error, Result};
use crate::lora::{peft, LoraConfig};
use crate::recipe::{EvalStrategy, TrainSection};
use candle_core::{Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What the trainer needs from a task.
pub trait Objective {
    /// Number of training examples.
    fn train_len(&self) -> usize;
    /// Mean loss of the given training rows (the task's definition of the batch mean).
    fn batch_loss(&self, rows: &[usize], train: bool) -> candle_core::Result<Tensor>;
    /// Validation metrics (`eval_loss`, and e.g. `eval_f1`); `None` without validation data.
    fn evaluate(&self) -> Result<Option<BTreeMap<String, f64>>>;
}

pub struct TrainRun<'a> {
    pub objective: &'a dyn Objective,
    /// Trainable tensors under their PEFT keys.
    pub params: Vec<(String, Var)>,
    pub lora: &'a LoraConfig,
    pub settings: &'a TrainSection,
    pub shuffle: bool,
    pub data_seed: u64,
    /// The resolved recipe, written as `recipe.toml` beside the results.
    pub recipe_toml: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TrainReport {
    pub steps: usize,
    /// Loss of every optimizer step (mean over its micro-batches).
    pub step_losses: Vec<f64>,
    pub best: Option<(usize, f64)>,
    pub adapter_dir: PathBuf,
    pub metrics_path: PathBuf,
    pub seconds: f64,
}

/// Optimizer steps per epoch and in total, as Transformers' Trainer counts them.
pub fn step_counts(examples: usize, settings: &TrainSection) -> (usize, usize) {
    let micro = examples.div_ceil(settings.batch_size.max(1));
    let per_epoch = (micro / settings.gradient_accumulation_steps.max(1)).max(1);
    let total = settings
        .max_steps
        .unwrap_or_else(|| (settings.num_train_epochs * per_epoch as f64).ceil() as usize);
    (per_epoch, total)
}

fn is_out_of_memory(e: &candle_core::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("out of memory") || text.contains("cuda_error_out_of_memory")
}

pub fn train(run: TrainRun) -> Result<TrainReport> {
    let s = run.settings;
    let out = s.output_dir.clone();
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    if let Some(recipe) = &run.recipe_toml {
        crate::output::write_atomic(&out.join("recipe.toml"), recipe.as_bytes())?;
    }
    let n = run.objective.train_len();
    if n == 0 {
        return Err(Error::Config("no training examples".into()));
    }
    if run.params.is_empty() {
        return Err(Error::Config(
            "nothing to train: no LoRA module matched and no module is saved".into(),
        ));
    }
    let (_, total) = step_counts(n, s);
    let mut optimizer = AdamW::new(
        &run.params,
        s.adam_beta1,
        s.adam_beta2,
        s.adam_epsilon,
        s.weight_decay,
    )?;
    let mut log = MetricsLog::create(&out.join("metrics.jsonl"))?;
    let adapter_dir = out.join("adapter");
    // The guard runs after two optimizer steps with a non-zero learning rate (a warmup starts at
    // 0, and lora_A only gets a gradient once lora_B has moved).
    let mut learning_steps = 0usize;
    let initial: Vec<Tensor> = run
        .params
        .iter()
        .map(|(_, v)| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?;
    let mut got_gradient = vec![false; run.params.len()];
    let best_metric_name = s.metric_for_best_model.clone();
    let mut best: Option<(usize, f64)> = None;
    let mut step_losses = Vec::with_capacity(total);
    let mut window: Vec<f64> = Vec::new();
    let mut split = 1usize;
    let started = Instant::now();
    let bar = crate::progress::bar(total as u64, "train");
    let mut step = 0usize;
    let mut epoch_index = 0u64;

    'outer: while step < total {
        let mut order: Vec<usize> = (0..n).collect();
        if run.shuffle {
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
                run.data_seed.wrapping_add(epoch_index),
            ));
        }
        let micro_batches: Vec<Vec<usize>> =
            order.chunks(s.batch_size).map(|c| c.to_vec()).collect();
        let groups: Vec<&[Vec<usize>]> = micro_batches
            .chunks(s.gradient_accumulation_steps)
            .collect();
        for (group_index, group) in groups.iter().enumerate() {
            if step >= total {
                break 'outer;
            }
            let lr = learning_rate(
                s.learning_rate,
                s.lr_scheduler_type,
                step,
                total,
                s.warmup_steps,
            );
            let mut sums: Vec<Option<Tensor>> = vec![None; run.params.len()];
            let mut loss_sum = 0.0f64;
            for rows in group.iter() {
                let weight = 1.0 / group.len() as f64;
                loop {
                    match accumulate(run.objective, &run.params, rows, split, weight) {
                        Ok((loss, grads)) => {
                            add_into(&mut sums, grads)?;
                            loss_sum += loss * weight;
                            break;
                        }
                        Err(Error::Candle(e))
                            if s.auto_batch_size && is_out_of_memory(&e) && split < rows.len() =>
                        {
                            split *= 2;
                            tracing::warn!("out of memory: micro-batches now split in {split} (auto_batch_size)");
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            let grads: Vec<Tensor> = sums
                .into_iter()
                .zip(&run.params)
                .enumerate()
                .map(|(i, (g, (_, var)))| match g {
                    Some(g) => {
                        if learning_steps < 2 {
                            got_gradient[i] |= g
                                .abs()?
                                .max_all()?
                                .to_dtype(candle_core::DType::F32)?
                                .to_scalar::<f32>()?
                                > 0.0;
                        }
                        Ok(g)
                    }
                    None => var.zeros_like(),
                })
                .collect::<candle_core::Result<_>>()?;
            let (grad_norm, factor) = clip_factor(&grads, s.max_grad_norm)?;
            let grads = if factor < 1.0 {
                grads
                    .iter()
                    .map(|g| g * factor)
                    .collect::<candle_core::Result<Vec<_>>>()?
            } else {
                grads
            };
            optimizer.step(&grads, lr)?;
            step += 1;
            if lr > 0.0 {
                learning_steps += 1;
            }
            if !loss_sum.is_finite() {
                return Err(Error::Config(format!(
                    "loss became {loss_sum} at step {step}: lower train.learning_rate"
                )));
            }
            step_losses.push(loss_sum);
            window.push(loss_sum);
            if lr > 0.0 && learning_steps == 2 {
                check_learning(&run.params, &initial, &got_gradient, step)?;
            }
            let epoch = epoch_index as f64 + (group_index + 1) as f64 / groups.len() as f64;
            if step.is_multiple_of(s.logging_steps.max(1)) || step == total {
                let mean = window.iter().sum::<f64>() / window.len() as f64;
                window.clear();
                log.write(&json!({"step": step, "epoch": round4(epoch), "loss": mean, "learning_rate": lr, "grad_norm": grad_norm}))?;
            }
            let elapsed = started.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {loss_sum:.4} lr {lr:.2e} {:.1} samples/s",
                (step * s.batch_size * s.gradient_accumulation_steps) as f64 / elapsed.max(1e-9)
            ));
            bar.inc(1);

            let end_of_epoch = group_index + 1 == groups.len();
            let evaluate_now = match s.eval_strategy {
                EvalStrategy::No => false,
                EvalStrategy::Epoch => end_of_epoch,
                EvalStrategy::Steps => {
                    step.is_multiple_of(s.eval_steps.unwrap_or(usize::MAX).max(1))
                }
            };
            if evaluate_now {
                if let Some(metrics) = run.objective.evaluate()? {
                    let mut record = json!({"step": step, "epoch": round4(epoch)});
                    for (k, v) in &metrics {
                        record[k] = json!(v);
                    }
                    log.write(&record)?;
                    bar.println(format!("step {step}: {}", format_metrics(&metrics)));
                    let name = best_metric_name
                        .clone()
                        .unwrap_or_else(|| default_best_metric(&metrics));
                    let value = *metrics.get(&name).ok_or_else(|| {
                        Error::Config(format!(
                            "train.metric_for_best_model '{name}' is not among {:?}",
                            metrics.keys()
                        ))
                    })?;
                    let higher_better = !name.contains("loss");
                    let improved =
                        best.is_none_or(|(_, b)| if higher_better { value > b } else { value < b });
                    if improved {
                        best = Some((step, value));
                        if s.save_best {
                            save_verified(&run.params, run.lora, &adapter_dir)?;
                        }
                    }
                }
            }
            if s.save_steps
                .is_some_and(|k| k > 0 && step.is_multiple_of(k))
            {
                let dir = out.join("checkpoints").join(format!("step-{step}"));
                let state = TrainerState {
                    global_step: step,
                    epoch,
                    best_metric: best.map(|b| b.1),
                    best_step: best.map(|b| b.0),
                };
                checkpoint::save(&dir, &run.params, run.lora, &optimizer, &state)?;
            }
        }
        epoch_index += 1;
    }
    bar.finish_and_clear();
    if !(s.save_best && best.is_some()) {
        save_verified(&run.params, run.lora, &adapter_dir)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    // as Transformers' `trainer.save_metrics("train", ...)`
    let results = json!({"global_step": step, "train_runtime": seconds, "train_steps_per_second": step as f64 / seconds.max(1e-9)});
    crate::output::write_atomic(
        &out.join("train_results.json"),
        format!("{results:#}\n").as_bytes(),
    )?;
    Ok(TrainReport {
        steps: step,
        step_losses,
        best,
        adapter_dir,
        metrics_path: log.path().to_path_buf(),
        seconds,
    })
}

/// Adds gradients (in parameter order; `None` where a parameter got none) into `sums`.
fn add_into(sums: &mut [Option<Tensor>], grads: Vec<Option<Tensor>>) -> candle_core::Result<()> {
    for (sum, g) in sums.iter_mut().zip(grads) {
        if let Some(g) = g {
            *sum = Some(match sum.take() {
                Some(s) => (s + g)?,
                None => g,
            });
        }
    }
    Ok(())
}

/// Forward and backward of one micro-batch (in `split` pieces): its loss and its gradients.
/// Nothing is kept from a micro-batch that fails part-way (e.g. out of memory), so a retry
/// with more pieces does not count any piece twice.
fn accumulate(
    objective: &dyn Objective,
    params: &[(String, Var)],
    rows: &[usize],
    split: usize,
    weight: f64,
) -> Result<(f64, Vec<Option<Tensor>>)> {
    let piece = rows.len().div_ceil(split.max(1));
    let mut loss_total = 0.0;
    let mut sums: Vec<Option<Tensor>> = vec![None; params.len()];
    for part in rows.chunks(piece) {
        let share = part.len() as f64 / rows.len() as f64;
        let loss = objective.batch_loss(part, true)?;
        loss_total += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? * share;
        let grads = (loss * (weight * share))?.backward()?;
        let piece_grads = params
            .iter()
            .map(|(_, var)| grads.get(var.as_tensor()).map(Tensor::detach))
            .collect();
        add_into(&mut sums, piece_grads)?;
    }
    Ok((loss_total, sums))
}

/// Stops the run when some trainable tensor received no gradient or did not change:
/// candle's silent graph cuts and unmatched target names both look like this.
fn check_learning(
    params: &[(String, Var)],
    initial: &[Tensor],
    got_gradient: &[bool],
    step: usize,
) -> Result<()> {
    let mut dead = Vec::new();
    for (((name, var), before), grad) in params.iter().zip(initial).zip(got_gradient) {
        let changed = (var.as_tensor() - before)?
            .abs()?
            .max_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?
            > 0.0;
        if !grad || !changed {
            dead.push(format!(
                "{name} ({})",
                if !grad { "no gradient" } else { "unchanged" }
            ));
        }
    }
    if dead.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "not learning: after {step} optimizer steps these trainable tensors did not train: {}",
        dead.join(", ")
    )))
}

/// Saves the adapter, reads it back and checks every tensor is identical.
pub fn save_verified(
    params: &[(String, Var)],
    lora: &LoraConfig,
    dir: &std::path::Path,
) -> Result<()> {
    peft::save_parameters(params, lora, dir)?;
    let device = params
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let reloaded = candle_core::safetensors::load(dir.join(peft::WEIGHTS_FILE), &device)?;
    for (name, var) in params {
        let same = reloaded
            .get(name)
            .map(|t| -> candle_core::Result<bool> {
                Ok(t.dims() == var.dims()
                    && (t - var.as_tensor())?
                        .abs()?
                        .max_all()?
                        .to_dtype(candle_core::DType::F32)?
                        .to_scalar::<f32>()?
                        == 0.0)
            })
            .transpose()?
            .unwrap_or(false);
        if !same {
            return Err(Error::file(
                dir.join(peft::WEIGHTS_FILE),
                format!("{name} did not reload identically"),
            ));
        }
    }
    LoraConfig::read(&dir.join(peft::CONFIG_FILE))?;
    Ok(())
}

fn default_best_metric(metrics: &BTreeMap<String, f64>) -> String {
    if metrics.contains_key("eval_f1") {
        "eval_f1".into()
    } else {
        "eval_loss".into()
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

pub fn format_metrics(metrics: &BTreeMap<String, f64>) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
