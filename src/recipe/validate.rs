//! The value rules of a recipe, checked when it loads (after `--set` overrides), before any
//! file is read or weight loaded. Each message names the key, the bad value and what is
//! allowed, e.g. `train.adam_beta2 = 1.5: must be in [0, 1)`.
use super::{EvalStrategy, Recipe, Task};

/// The metrics a recipe's validation produces (`train.metric_for_best_model` picks one):
/// seq2seq adds ROUGE (and BERTScore) with `eval.predict_with_generate`.
pub fn validation_metrics(recipe: &Recipe) -> Vec<&'static str> {
    match recipe.model.task {
        Task::Seq2seq => {
            let mut known = vec!["eval_loss"];
            if recipe.eval.predict_with_generate {
                known.extend([
                    "eval_rouge1",
                    "eval_rouge2",
                    "eval_rougeL",
                    "eval_rougeLsum",
                ]);
                if recipe.eval.bertscore_model.is_some() {
                    known.push("eval_bertscore_f1");
                }
            }
            known
        }
        Task::Classification => vec![
            "eval_loss",
            "eval_accuracy",
            "eval_f1",
            "eval_precision",
            "eval_recall",
        ],
    }
}

fn at_least_one(key: &str, value: usize) -> Result<(), String> {
    if value == 0 {
        return Err(format!("{key} = 0: must be at least 1"));
    }
    Ok(())
}

fn some_at_least_one(key: &str, value: Option<usize>) -> Result<(), String> {
    value.map_or(Ok(()), |v| at_least_one(key, v))
}

/// In [0, 1).
fn unit_interval(key: &str, value: f64) -> Result<(), String> {
    if !(0.0..1.0).contains(&value) {
        return Err(format!("{key} = {value}: must be in [0, 1)"));
    }
    Ok(())
}

fn non_negative(key: &str, value: f64) -> Result<(), String> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("{key} = {value}: must be a finite number ≥ 0"));
    }
    Ok(())
}

fn positive(key: &str, value: f64) -> Result<(), String> {
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{key} = {value}: must be a finite number > 0"));
    }
    Ok(())
}

impl Recipe {
    /// Refuses values no job could use (see the module's doc). [`Recipe::load`] and
    /// [`Recipe::parse`] call it; call it again after changing a recipe in code.
    pub fn validate(&self) -> crate::error::Result<()> {
        self.check_values().map_err(crate::error::Error::Config)
    }

    /// The first refused value, as a message that starts with its key.
    pub(super) fn check_values(&self) -> Result<(), String> {
        self.validate_data()?;
        self.validate_lora()?;
        self.validate_train()?;
        self.validate_eval()
    }

    fn validate_data(&self) -> Result<(), String> {
        let d = &self.data;
        at_least_one("data.max_source_tokens", d.max_source_tokens)?;
        at_least_one("data.max_target_tokens", d.max_target_tokens)?;
        some_at_least_one("data.train_samples", d.train_samples)?;
        if let Some(f) = d.validation_fraction {
            if !(f > 0.0 && f < 1.0) {
                return Err(format!("data.validation_fraction = {f}: must be in (0, 1)"));
            }
        }
        Ok(())
    }

    fn validate_lora(&self) -> Result<(), String> {
        let l = &self.lora;
        at_least_one("lora.r", l.r)?;
        if l.lora_alpha == 0.0 || !l.lora_alpha.is_finite() {
            return Err(format!(
                "lora.lora_alpha = {}: must be a finite number other than 0 (the update is scaled by lora_alpha / r)",
                l.lora_alpha
            ));
        }
        unit_interval("lora.lora_dropout", l.lora_dropout)?;
        match &l.target_modules {
            Some(targets) => targets.check().map_err(|m| format!("lora.{m}")),
            None => Ok(()),
        }
    }

    fn validate_train(&self) -> Result<(), String> {
        let t = &self.train;
        at_least_one("train.batch_size", t.batch_size)?;
        at_least_one(
            "train.gradient_accumulation_steps",
            t.gradient_accumulation_steps,
        )?;
        positive("train.learning_rate", t.learning_rate)?;
        match t.max_steps {
            Some(steps) => at_least_one("train.max_steps", steps)?,
            None => positive("train.num_train_epochs", t.num_train_epochs)?,
        }
        unit_interval("train.adam_beta1", t.adam_beta1)?;
        unit_interval("train.adam_beta2", t.adam_beta2)?;
        non_negative("train.adam_epsilon", t.adam_epsilon)?;
        non_negative("train.weight_decay", t.weight_decay)?;
        non_negative("train.max_grad_norm", t.max_grad_norm)?;
        at_least_one("train.logging_steps", t.logging_steps)?;
        some_at_least_one("train.save_steps", t.save_steps)?;
        some_at_least_one("train.save_total_limit", t.save_total_limit)?;
        some_at_least_one("train.eval_steps", t.eval_steps)?;
        if t.eval_strategy == EvalStrategy::Steps && t.eval_steps.is_none() {
            return Err(
                "train.eval_strategy = \"steps\" needs train.eval_steps (at least 1)".into(),
            );
        }
        if t.save_best && t.eval_strategy == EvalStrategy::No {
            return Err(
                "train.save_best = true needs evaluations: set train.eval_strategy to \"epoch\" or \"steps\" (as Transformers: load_best_model_at_end requires an evaluation strategy)"
                    .into(),
            );
        }
        if t.eval_strategy != EvalStrategy::No
            && self.data.validation.is_none()
            && self.data.validation_fraction.is_none()
        {
            let strategy = match t.eval_strategy {
                EvalStrategy::Epoch => "epoch",
                _ => "steps",
            };
            return Err(format!(
                "train.eval_strategy = \"{strategy}\" needs validation data: set data.validation or data.validation_fraction (or train.eval_strategy = \"no\")"
            ));
        }
        if let Some(name) = &t.metric_for_best_model {
            let known = validation_metrics(self);
            if !known.contains(&name.as_str()) {
                return Err(format!(
                    "train.metric_for_best_model = \"{name}\": must be one of {known:?} (the metrics {} validation produces{})",
                    match self.model.task {
                        Task::Seq2seq => "seq2seq",
                        Task::Classification => "classification",
                    },
                    match (self.model.task, self.eval.predict_with_generate) {
                        (Task::Seq2seq, false) => "; eval.predict_with_generate = true adds eval_rouge1/2/L/Lsum",
                        _ => "",
                    }
                ));
            }
        }
        Ok(())
    }

    fn validate_eval(&self) -> Result<(), String> {
        let e = &self.eval;
        at_least_one("eval.samples", e.samples)?;
        some_at_least_one("eval.batch_size", e.batch_size)?;
        if e.bertscore_model.is_some() && e.bertscore_layer.is_none() {
            return Err("eval.bertscore_model needs eval.bertscore_layer".into());
        }
        if e.predict_with_generate {
            if self.model.task != Task::Seq2seq {
                return Err(
                    "eval.predict_with_generate = true is for seq2seq models (classification evaluations report eval_f1 and eval_accuracy already)"
                        .into(),
                );
            }
            if self.train.eval_strategy == EvalStrategy::No {
                return Err("eval.predict_with_generate = true needs evaluations during training: set train.eval_strategy to \"epoch\" or \"steps\"".into());
            }
        }
        Ok(())
    }
}
