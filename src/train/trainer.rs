//! The training loop: batches, gradient accumulation, AdamW, schedule, clipping, evaluation,
//! checkpoints and best-model selection, as a [`Trainer`] whose steps run [`Callback`]s (the
//! progress bar, the metrics log, the "is it learning?" guard, early stopping and any a run
//! adds).
use super::callback::{
    Callback, Control, Evaluation, Logs, MetricsLogger, ProgressBar, Saved, StepOutcome,
    TrainerView,
};
use super::checkpoint::{self, Position, Snapshot, TrainerState};
use super::early_stopping::EarlyStopping;
use super::guard::LearningGuard;
use super::kill_point;
use super::metrics::MetricsLog;
use super::optimizer::{clip_factor, AdamW};
use super::schedule::learning_rate;
use super::tensorboard::TensorBoard;
use crate::error::{Error, Result};
use crate::lora::{peft, LoraConfig};
use crate::recipe::{EvalStrategy, Integration, TrainSection};
use crate::rng::{Purpose, Stream};
use candle_core::{Tensor, Var};
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
    /// The resolved recipe, written as `recipe.toml` beside the results and in checkpoints.
    pub recipe_toml: Option<String>,
    /// Continue from this checkpoint (checked against the recipe by the caller).
    pub resume: Option<PathBuf>,
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
    /// The step after which a callback (e.g. early stopping) stopped the run before its
    /// planned number of steps (the run says so on stderr; the tests read it here).
    #[cfg(test)]
    pub(crate) stopped_early: Option<usize>,
}

/// Optimizer steps per epoch and in total, as Transformers' Trainer counts them.
pub(crate) fn step_counts(examples: usize, settings: &TrainSection) -> (usize, usize) {
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

/// Trains `run` with the trainer's own callbacks only.
pub fn train(run: TrainRun) -> Result<TrainReport> {
    train_with(run, Vec::new())
}

/// Trains `run` with `callbacks` run after the trainer's own.
pub(crate) fn train_with<'a>(
    run: TrainRun<'a>,
    callbacks: Vec<Box<dyn Callback + 'a>>,
) -> Result<TrainReport> {
    Trainer::new(run, callbacks)?.train()
}

/// The callbacks of a run and the first stop any of them asked for.
#[derive(Default)]
struct Callbacks<'a> {
    list: Vec<Box<dyn Callback + 'a>>,
    stop: Option<String>,
}

impl Callbacks<'_> {
    /// Calls `hook` on every callback (all of them, as Transformers' `CallbackHandler`),
    /// remembering the first stop asked for; an error ends the call at once.
    fn each(
        &mut self,
        view: &TrainerView,
        mut hook: impl FnMut(&mut dyn Callback, &TrainerView) -> Result<Control>,
    ) -> Result<()> {
        for callback in self.list.iter_mut() {
            if let Control::Stop(reason) = hook(callback.as_mut(), view)? {
                self.stop.get_or_insert(reason);
            }
        }
        Ok(())
    }
}

/// One training run: its settings, optimizer and position, and its callbacks.
pub(crate) struct Trainer<'a> {
    objective: &'a dyn Objective,
    params: Vec<(String, Var)>,
    lora: &'a LoraConfig,
    settings: &'a TrainSection,
    shuffle: bool,
    data_seed: u64,
    recipe_toml: Option<String>,
    out: PathBuf,
    adapter_dir: PathBuf,
    metrics_path: PathBuf,
    /// Training examples.
    examples: usize,
    /// Planned optimizer steps.
    total: usize,
    optimizer: AdamW,
    /// Optimizer steps done.
    global_step: usize,
    /// Fractional epoch after the last step.
    epoch: f64,
    /// Where the data loop stands after the last step.
    position: Position,
    /// The checkpoint's callback states, handed over once `on_train_begin` has run.
    resumed_callbacks: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    best: Option<(usize, f64)>,
    step_losses: Vec<f64>,
    /// Losses of the steps since the last training log line.
    window: Vec<f64>,
    /// Pieces each micro-batch is cut in (grows on out-of-memory with `auto_batch_size`).
    split: usize,
    started: Instant,
    last_step: Option<StepOutcome>,
    callbacks: Callbacks<'a>,
    warned_no_validation: bool,
    /// Steps skipped for non-finite values (`train.skip_nonfinite_steps`).
    skipped_steps: usize,
}

impl<'a> Trainer<'a> {
    /// Checks the run, creates the output folder (with `recipe.toml` and `metrics.jsonl`) and
    /// the optimizer. The trainer's callbacks (guard, metrics log, progress bar, early
    /// stopping when asked for) run before `callbacks`.
    pub(crate) fn new(run: TrainRun<'a>, callbacks: Vec<Box<dyn Callback + 'a>>) -> Result<Self> {
        let s = run.settings;
        let early_stopping = EarlyStopping::from_settings(s)?;
        let out = s.output_dir.clone();
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        if let Some(recipe) = &run.recipe_toml {
            crate::output::write_atomic(&out.join("recipe.toml"), recipe.as_bytes())?;
        }
        let examples = run.objective.train_len();
        if examples == 0 {
            return Err(Error::Config("no training examples".into()));
        }
        if run.params.is_empty() {
            return Err(Error::Config(
                "nothing to train: no LoRA module matched and no module is saved".into(),
            ));
        }
        let (_, total) = step_counts(examples, s);
        let mut optimizer = AdamW::new(
            &run.params,
            s.adam_beta1,
            s.adam_beta2,
            s.adam_epsilon,
            s.weight_decay,
        )?;
        let metrics_path = out.join("metrics.jsonl");
        let resumed = match &run.resume {
            Some(dir) => Some(checkpoint::load(dir, &run.params, &mut optimizer)?),
            None => None,
        };
        let log = match &resumed {
            Some(state) => MetricsLog::resume(&metrics_path, state.global_step)?,
            None => MetricsLog::create(&metrics_path)?,
        };
        let mut list: Vec<Box<dyn Callback + 'a>> = vec![
            Box::new(LearningGuard::new()),
            Box::new(MetricsLogger::new(log)),
            Box::new(ProgressBar::new()),
        ];
        if let Some(early_stopping) = early_stopping {
            list.push(Box::new(early_stopping));
        }
        if s.report_to.contains(Integration::Tensorboard) {
            list.push(Box::new(TensorBoard::create(&out)?));
        }
        list.extend(callbacks);
        let mut trainer = Self {
            objective: run.objective,
            params: run.params,
            lora: run.lora,
            settings: s,
            shuffle: run.shuffle,
            data_seed: run.data_seed,
            recipe_toml: run.recipe_toml,
            adapter_dir: out.join("adapter"),
            out,
            metrics_path,
            examples,
            total,
            optimizer,
            global_step: 0,
            epoch: 0.0,
            position: Position::default(),
            resumed_callbacks: None,
            best: None,
            step_losses: Vec::with_capacity(total),
            window: Vec::new(),
            split: 1,
            started: Instant::now(),
            last_step: None,
            callbacks: Callbacks { list, stop: None },
            warned_no_validation: false,
            skipped_steps: 0,
        };
        if let Some(state) = resumed {
            trainer.continue_from(state);
        }
        Ok(trainer)
    }

    /// Takes over a checkpoint's position, losses and best (its tensors are already loaded).
    fn continue_from(&mut self, state: TrainerState) {
        self.global_step = state.global_step;
        self.epoch = state.epoch;
        self.position = state.position;
        self.best = state.best_step.zip(state.best_metric);
        self.step_losses = state.step_losses;
        self.window = state.log_window;
        self.split = state.split;
        self.skipped_steps = state.skipped_steps;
        self.resumed_callbacks = Some(state.callbacks);
        eprintln!(
            "resuming at step {} of {} (epoch {:.2})",
            self.global_step, self.total, self.epoch
        );
    }

    /// The order of the training examples in epoch `epoch_index`: a function of
    /// `data.seed` and the epoch alone, so a resumed run sees the same order.
    fn epoch_order(&self, epoch_index: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.examples).collect();
        if self.shuffle {
            Stream::new(self.data_seed, Purpose::Shuffle, [epoch_index, 0, 0]).shuffle(&mut order);
        }
        order
    }

    /// Hands a resumed run's callbacks their checkpointed state.
    fn restore_callbacks(&mut self) -> Result<()> {
        let Some(states) = self.resumed_callbacks.take() else {
            return Ok(());
        };
        for callback in self.callbacks.list.iter_mut() {
            if let Some(state) = callback.state_name().and_then(|name| states.get(name)) {
                callback.load_state(state)?;
            }
        }
        Ok(())
    }

    /// The read-only view callbacks get.
    pub(crate) fn view(&self) -> TrainerView<'_> {
        TrainerView {
            global_step: self.global_step,
            max_steps: self.total,
            epoch: self.epoch,
            last_step: self.last_step.as_ref(),
            best: self.best,
            params: &self.params,
            settings: self.settings,
            elapsed: self.started.elapsed(),
        }
    }

    /// Runs `hook` on every callback with the current view.
    fn dispatch(
        &mut self,
        hook: impl FnMut(&mut dyn Callback, &TrainerView) -> Result<Control>,
    ) -> Result<()> {
        let mut callbacks = std::mem::take(&mut self.callbacks);
        let result = callbacks.each(&self.view(), hook);
        self.callbacks = callbacks;
        result
    }

    /// Runs the epochs until the planned number of steps or until a callback asks to stop,
    /// then writes the adapter (unless the best one was saved) and `train_results.json`.
    pub(crate) fn train(mut self) -> Result<TrainReport> {
        let s = self.settings;
        self.started = Instant::now();
        self.dispatch(|c, v| c.on_train_begin(v).map(|()| Control::Continue))?;
        self.restore_callbacks()?;
        let Position {
            mut epoch_index,
            steps_in_epoch: mut done_in_epoch,
        } = self.position;
        'outer: while self.global_step < self.total {
            let order = self.epoch_order(epoch_index);
            let micro_batches: Vec<Vec<usize>> =
                order.chunks(s.batch_size).map(|c| c.to_vec()).collect();
            let groups: Vec<&[Vec<usize>]> = micro_batches
                .chunks(s.gradient_accumulation_steps)
                .collect();
            for (group_index, group) in groups.iter().enumerate().skip(done_in_epoch) {
                if self.global_step >= self.total {
                    break 'outer;
                }
                let epoch = epoch_index as f64 + (group_index + 1) as f64 / groups.len() as f64;
                self.step(group, epoch)?;
                self.position = Position {
                    epoch_index,
                    steps_in_epoch: group_index + 1,
                };
                self.maybe_log()?;
                self.maybe_evaluate(group_index + 1 == groups.len())?;
                self.maybe_checkpoint()?;
                kill_point::reached("step-end", self.global_step);
                if self.callbacks.stop.is_some() {
                    break 'outer;
                }
            }
            done_in_epoch = 0;
            epoch_index += 1;
        }
        self.dispatch(|c, v| c.on_train_end(v).map(|()| Control::Continue))?;
        let step = self.global_step;
        let stopped_early = step < self.total && self.callbacks.stop.is_some();
        if let Some(reason) = self.callbacks.stop.as_ref().filter(|_| stopped_early) {
            eprintln!("stopped early at step {step} of {}: {reason}", self.total);
        }
        if !(s.save_best && self.best.is_some()) {
            save_verified(&self.params, self.lora, &self.adapter_dir)?;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        // as Transformers' `trainer.save_metrics("train", ...)`
        let results = serde_json::json!({"global_step": step, "train_runtime": seconds, "train_steps_per_second": step as f64 / seconds.max(1e-9), "skipped_nonfinite_steps": self.skipped_steps});
        if self.skipped_steps > 0 {
            eprintln!(
                "skipped {} of {step} steps for non-finite values (train.skip_nonfinite_steps)",
                self.skipped_steps
            );
        }
        crate::output::write_atomic(
            &self.out.join("train_results.json"),
            format!("{results:#}\n").as_bytes(),
        )?;
        Ok(TrainReport {
            steps: step,
            step_losses: self.step_losses,
            best: self.best,
            adapter_dir: self.adapter_dir,
            metrics_path: self.metrics_path,
            seconds,
            #[cfg(test)]
            stopped_early: stopped_early.then_some(step),
        })
    }

    /// One optimizer step over a group of micro-batches (gradient accumulation), ending at
    /// fractional epoch `epoch`; then `on_step_end`.
    pub(crate) fn step(&mut self, group: &[Vec<usize>], epoch: f64) -> Result<()> {
        let s = self.settings;
        let lr = learning_rate(
            s.learning_rate,
            s.lr_scheduler_type,
            self.global_step,
            self.total,
            s.warmup_steps,
        );
        let mut sums: Vec<Option<Tensor>> = vec![None; self.params.len()];
        let mut loss_sum = 0.0f64;
        for (micro, rows) in group.iter().enumerate() {
            let weight = 1.0 / group.len() as f64;
            // the dropout masks of this micro-batch: (train.seed, step, micro-batch, module)
            let keys = DropoutKeys {
                seed: s.seed,
                step: self.global_step as u64,
                micro: micro as u64,
            };
            loop {
                match accumulate(self.objective, &self.params, rows, self.split, weight, keys) {
                    Ok((loss, grads)) => {
                        add_into(&mut sums, grads)?;
                        loss_sum += loss * weight;
                        break;
                    }
                    Err(Error::Candle(e))
                        if s.auto_batch_size && is_out_of_memory(&e) && self.split < rows.len() =>
                    {
                        self.split *= 2;
                        tracing::warn!(
                            "out of memory: micro-batches now split in {} (auto_batch_size)",
                            self.split
                        );
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let gradients = sums;
        let grads: Vec<Tensor> = gradients
            .iter()
            .zip(&self.params)
            .map(|(g, (_, var))| match g {
                Some(g) => Ok(g.clone()),
                None => var.zeros_like(),
            })
            .collect::<candle_core::Result<_>>()?;
        // `grads` is the gradient of the step's loss, the mean of its micro-batches' mean losses
        // (what we log, with its norm). Transformers' Trainer (5.x, models taking **kwargs such
        // as T5 and BERT-likes, which ignore its `num_items_in_batch`) does not divide by the
        // micro-batches: it clips and steps with their SUM, `group.len()` times ours. Clipping
        // is not scale-free, so we clip and step with that sum too: same update as the Trainer
        // (tests/trainer_parity.rs; the README's "Transformers' Trainer logs").
        let trainer_scale = group.len() as f64;
        let (grad_norm, clip) = clip_factor(&grads, s.max_grad_norm, trainer_scale)?;
        if !(loss_sum.is_finite() && grad_norm.is_finite()) {
            return self.non_finite(group, loss_sum, epoch);
        }
        let factor = trainer_scale * clip;
        let grads = if factor != 1.0 {
            grads
                .iter()
                .map(|g| g * factor)
                .collect::<candle_core::Result<Vec<_>>>()?
        } else {
            grads
        };
        self.optimizer.step(&grads, lr)?;
        drop(grads);
        self.global_step += 1;
        self.epoch = epoch;
        self.step_losses.push(loss_sum);
        self.window.push(loss_sum);
        self.last_step = Some(StepOutcome {
            loss: loss_sum,
            learning_rate: lr,
            grad_norm,
            gradients,
        });
        let result = self.dispatch(|c, v| c.on_step_end(v));
        if let Some(last) = &mut self.last_step {
            last.gradients = Vec::new();
        }
        result
    }

    /// A step whose loss or gradient is not finite: skipped with `train.skip_nonfinite_steps`
    /// (counted and logged); else the run stops, naming the first module whose output or
    /// gradient went non-finite, found by replaying the step with checks on (the replay sees
    /// the same data and dropout masks). Nothing is updated and no checkpoint is touched.
    fn non_finite(&mut self, group: &[Vec<usize>], loss: f64, epoch: f64) -> Result<()> {
        let step = self.global_step + 1;
        if self.settings.skip_nonfinite_steps {
            self.skipped_steps += 1;
            self.global_step = step;
            self.epoch = epoch;
            tracing::warn!(
                "step {step}: the loss or a gradient is not finite (loss {loss}); step skipped                  (train.skip_nonfinite_steps), {} skipped so far",
                self.skipped_steps
            );
            self.log(Logs::Skipped {
                skipped: self.skipped_steps,
            })?;
            self.last_step = None;
            return self.dispatch(|c, v| c.on_step_end(v));
        }
        let culprit = self.first_non_finite(group)?;
        let last_good = checkpoint::list(&self.out)?
            .pop()
            .map(|(_, dir)| format!("the last good checkpoint is {}", dir.display()))
            .unwrap_or_else(|| "no checkpoint was written before it".into());
        Err(Error::Training(format!(
            "step {step}: the loss is {loss}; the first non-finite value is {culprit}. Training stopped and              {last_good}. Lower train.learning_rate or train.max_grad_norm, check the data of this step,              or set train.skip_nonfinite_steps = true to skip such steps"
        )))
    }

    /// Replays the micro-batches of a step with every layer's output checked: the first module
    /// whose output, or parameter whose gradient, is not finite.
    fn first_non_finite(&self, group: &[Vec<usize>]) -> Result<String> {
        for (micro, rows) in group.iter().enumerate() {
            let keys = DropoutKeys {
                seed: self.settings.seed,
                step: self.global_step as u64,
                micro: micro as u64,
            };
            let weight = 1.0 / group.len() as f64;
            let (result, module) = crate::nn::finite_check::watch(|| {
                accumulate(self.objective, &self.params, rows, self.split, weight, keys)
            });
            let which = if group.len() > 1 {
                format!(" of micro-batch {} of {}", micro + 1, group.len())
            } else {
                String::new()
            };
            if let Some(module) = module {
                return Ok(format!("the output of {module} (forward pass{which})"));
            }
            let (loss, grads) = result?;
            if !loss.is_finite() {
                return Ok(format!(
                    "the loss{which} (every layer's output was finite: the loss itself overflowed)"
                ));
            }
            for ((name, _), grad) in self.params.iter().zip(grads) {
                if let Some(grad) = grad {
                    if !crate::nn::finite_check::is_finite(&grad)? {
                        return Ok(format!("the gradient of {name}{which}"));
                    }
                }
            }
        }
        Ok("not found on replay: the step gave finite values the second time (a non-deterministic kernel?)".into())
    }

    /// Hands a log entry to the callbacks (`metrics.jsonl`, the console), as Transformers'
    /// `Trainer.log`.
    pub(crate) fn log(&mut self, logs: Logs) -> Result<()> {
        self.dispatch(|c, v| c.on_log(v, &logs))
    }

    /// Logs the mean loss since the last log every `logging_steps` steps and at the last step.
    fn maybe_log(&mut self) -> Result<()> {
        let step = self.global_step;
        if !(step.is_multiple_of(self.settings.logging_steps.max(1)) || step == self.total) {
            return Ok(());
        }
        let Some(last) = &self.last_step else {
            return Ok(());
        };
        if self.window.is_empty() {
            return Ok(());
        }
        let (learning_rate, grad_norm) = (last.learning_rate, last.grad_norm);
        let loss = self.window.iter().sum::<f64>() / self.window.len() as f64;
        self.window.clear();
        self.log(Logs::Train {
            loss,
            learning_rate,
            grad_norm,
        })
    }

    /// Evaluates when `train.eval_strategy` says so (`end_of_epoch`: this step ends an epoch):
    /// logs the metrics, runs `on_evaluate`, and keeps (and with `save_best` saves) the best.
    pub(crate) fn maybe_evaluate(&mut self, end_of_epoch: bool) -> Result<()> {
        let s = self.settings;
        let step = self.global_step;
        let evaluate_now = match s.eval_strategy {
            EvalStrategy::No => false,
            EvalStrategy::Epoch => end_of_epoch,
            EvalStrategy::Steps => step.is_multiple_of(s.eval_steps.unwrap_or(usize::MAX).max(1)),
        };
        if !evaluate_now {
            return Ok(());
        }
        let Some(metrics) = self.objective.evaluate()? else {
            if s.early_stopping_patience.is_some() && !self.warned_no_validation {
                tracing::warn!("no validation data: train.early_stopping_patience has no effect");
                self.warned_no_validation = true;
            }
            return Ok(());
        };
        self.log(Logs::Eval(&metrics))?;
        let name = s
            .metric_for_best_model
            .clone()
            .unwrap_or_else(|| default_best_metric(&metrics));
        let value = *metrics.get(&name).ok_or_else(|| {
            Error::Config(format!(
                "train.metric_for_best_model '{name}' is not among {:?}",
                metrics.keys()
            ))
        })?;
        let higher_better = !name.contains("loss");
        let evaluation = Evaluation {
            metric: &name,
            value,
            greater_is_better: higher_better,
        };
        self.dispatch(|c, v| c.on_evaluate(v, &evaluation))?;
        let improved = self
            .best
            .is_none_or(|(_, b)| if higher_better { value > b } else { value < b });
        if improved {
            self.best = Some((step, value));
            if s.save_best {
                save_verified(&self.params, self.lora, &self.adapter_dir)?;
                let dir = self.adapter_dir.clone();
                self.dispatch(|c, v| c.on_save(v, Saved::Best(&dir)))?;
            }
        }
        Ok(())
    }

    /// Writes `checkpoints/step-N` every `train.save_steps` steps, then runs `on_save`.
    pub(crate) fn maybe_checkpoint(&mut self) -> Result<()> {
        let step = self.global_step;
        if !self
            .settings
            .save_steps
            .is_some_and(|k| k > 0 && step.is_multiple_of(k))
        {
            return Ok(());
        }
        let dir = checkpoint::dir_of(&self.out, step);
        let mut callbacks = std::collections::BTreeMap::new();
        for callback in &self.callbacks.list {
            if let Some(name) = callback.state_name() {
                callbacks.insert(name.to_string(), callback.save_state()?);
            }
        }
        let state = TrainerState {
            best_metric: self.best.map(|b| b.1),
            best_step: self.best.map(|b| b.0),
            position: self.position,
            optimizer_step: self.optimizer.step,
            split: self.split,
            skipped_steps: self.skipped_steps,
            log_window: self.window.clone(),
            step_losses: self.step_losses.clone(),
            callbacks,
            ..TrainerState::new(step, self.epoch)
        };
        let best_adapter =
            (self.settings.save_best && self.best.is_some()).then_some(self.adapter_dir.as_path());
        checkpoint::save(
            &dir,
            &Snapshot {
                params: &self.params,
                config: self.lora,
                optimizer: &self.optimizer,
                state: &state,
                recipe_toml: self.recipe_toml.as_deref(),
                best_adapter,
            },
        )?;
        if let Some(keep) = self.settings.save_total_limit {
            checkpoint::prune(&self.out, keep, self.best.map(|b| b.0))?;
        }
        self.dispatch(|c, v| c.on_save(v, Saved::Checkpoint(&dir)))
    }
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

/// What addresses the dropout masks of one micro-batch.
#[derive(Clone, Copy)]
struct DropoutKeys {
    seed: u64,
    step: u64,
    micro: u64,
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
    keys: DropoutKeys,
) -> Result<(f64, Vec<Option<Tensor>>)> {
    let piece = rows.len().div_ceil(split.max(1));
    let mut loss_total = 0.0;
    let mut sums: Vec<Option<Tensor>> = vec![None; params.len()];
    for (index, part) in rows.chunks(piece).enumerate() {
        let share = part.len() as f64 / rows.len() as f64;
        let _masks = crate::nn::dropout::scope(
            keys.seed,
            keys.step,
            keys.micro * split as u64 + index as u64,
        );
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

/// Saves the adapter, reads it back and checks every tensor is identical.
pub(crate) fn save_verified(
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
