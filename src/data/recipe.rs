//! Recipes: one TOML file that describes a whole job (model, data, LoRA, training, evaluation).
//! Every key can be overridden with `--set section.key=value`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Seq2seq,
    Classification,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub name: String,
    pub task: Task,
    #[serde(default)]
    pub num_labels: Option<usize>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default = "default_dtype")]
    pub dtype: String,
}

fn default_dtype() -> String {
    "f32".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    pub train: Option<String>,
    #[serde(default)]
    pub validation: Option<String>,
    #[serde(default)]
    pub test: Option<String>,
    #[serde(default = "source")]
    pub source_field: String,
    #[serde(default = "target")]
    pub target_field: String,
    #[serde(default = "text")]
    pub text_field: String,
    #[serde(default = "label")]
    pub label_field: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default = "d512")]
    pub max_source_tokens: usize,
    #[serde(default = "d128")]
    pub max_target_tokens: usize,
    /// "right" keeps a long source's beginning, "left" its end (Transformers' `truncation_side`).
    #[serde(default)]
    pub truncation_side: crate::tokenizer::TruncationSide,
    #[serde(default)]
    pub train_samples: Option<usize>,
    #[serde(default)]
    pub validation_samples: Option<usize>,
    #[serde(default)]
    pub test_samples: Option<usize>,
    #[serde(default)]
    pub validation_fraction: Option<f64>,
    #[serde(default = "yes")]
    pub shuffle: bool,
    #[serde(default = "seed")]
    pub seed: u64,
    #[serde(default)]
    pub skip_empty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    #[serde(default = "d8")]
    pub r: usize,
    #[serde(default = "d8f")]
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub init_adapter: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalStrategy {
    No,
    Epoch,
    Steps,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    #[serde(default = "output_dir")]
    pub output_dir: PathBuf,
    /// Replace a previous run in `output_dir` (as Transformers' `overwrite_output_dir`); without
    /// it, a folder holding a run is refused. `--overwrite` sets it.
    #[serde(default)]
    pub overwrite_output_dir: bool,
    #[serde(default = "lr")]
    pub learning_rate: f64,
    #[serde(default = "d8")]
    pub batch_size: usize,
    #[serde(default = "d1")]
    pub gradient_accumulation_steps: usize,
    #[serde(default = "epochs")]
    pub num_train_epochs: f64,
    #[serde(default)]
    pub max_steps: Option<usize>,
    #[serde(default)]
    pub warmup_steps: usize,
    #[serde(default = "linear")]
    pub lr_scheduler_type: Schedule,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "beta1")]
    pub adam_beta1: f64,
    #[serde(default = "beta2")]
    pub adam_beta2: f64,
    #[serde(default = "eps")]
    pub adam_epsilon: f64,
    #[serde(default = "clip")]
    pub max_grad_norm: f64,
    #[serde(default = "seed")]
    pub seed: u64,
    #[serde(default = "auto")]
    pub device: String,
    #[serde(default = "default_dtype")]
    pub precision: String,
    #[serde(default = "no")]
    pub eval_strategy: EvalStrategy,
    #[serde(default)]
    pub eval_steps: Option<usize>,
    #[serde(default)]
    pub save_best: bool,
    #[serde(default)]
    pub metric_for_best_model: Option<String>,
    #[serde(default)]
    pub save_steps: Option<usize>,
    #[serde(default = "d10")]
    pub logging_steps: usize,
    #[serde(default)]
    pub auto_batch_size: bool,
    /// Stop after this many evaluations in a row without improvement (Transformers'
    /// `EarlyStoppingCallback`); needs an `eval_strategy`. Unset: no early stopping.
    #[serde(default)]
    pub early_stopping_patience: Option<usize>,
    /// The least change of the metric for best model that counts as an improvement.
    #[serde(default)]
    pub early_stopping_threshold: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    #[serde(default = "d50")]
    pub samples: usize,
    #[serde(default = "seed")]
    pub seed: u64,
    #[serde(default)]
    pub max_new_tokens: Option<usize>,
    #[serde(default = "d1")]
    pub num_beams: usize,
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub bertscore_model: Option<String>,
    #[serde(default)]
    pub bertscore_layer: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub model: ModelSection,
    pub data: DataSection,
    #[serde(default = "default_lora")]
    pub lora: LoraSection,
    #[serde(default = "default_train")]
    pub train: TrainSection,
    #[serde(default = "default_eval")]
    pub eval: EvalSection,
}

fn empty_table<T: serde::de::DeserializeOwned>() -> T {
    toml::Value::Table(Default::default())
        .try_into()
        .unwrap_or_else(|e| panic!("defaults of a recipe section: {e}"))
}
fn default_lora() -> LoraSection {
    empty_table()
}
fn default_train() -> TrainSection {
    empty_table()
}
fn default_eval() -> EvalSection {
    empty_table()
}
fn source() -> String {
    "source".into()
}
fn target() -> String {
    "target".into()
}
fn text() -> String {
    "text".into()
}
fn label() -> String {
    "label".into()
}
fn d1() -> usize {
    1
}
fn d8() -> usize {
    8
}
fn d8f() -> f64 {
    8.0
}
fn d10() -> usize {
    10
}
fn d50() -> usize {
    50
}
fn d128() -> usize {
    128
}
fn d512() -> usize {
    512
}
fn yes() -> bool {
    true
}
fn seed() -> u64 {
    42
}
fn output_dir() -> PathBuf {
    PathBuf::from("runs/latest")
}
fn lr() -> f64 {
    5e-5
}
fn epochs() -> f64 {
    3.0
}
fn linear() -> Schedule {
    Schedule::Linear
}
fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn eps() -> f64 {
    1e-8
}
fn clip() -> f64 {
    1.0
}
fn auto() -> String {
    "auto".into()
}
fn no() -> EvalStrategy {
    EvalStrategy::No
}

impl Recipe {
    /// Reads a recipe and applies `section.key=value` overrides. Relative data paths stay
    /// relative to the current directory (as typed on the command line).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path, overrides)
    }

    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| recipe_error(path, text, e))?;
        for item in overrides {
            apply_override(&mut value, item)?;
        }
        let recipe: Recipe = value
            .try_into()
            .map_err(|e: toml::de::Error| Error::file(path, e.message().to_string()))?;
        recipe.validate().map_err(|m| Error::file(path, m))?;
        Ok(recipe)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let t = &self.train;
        if t.batch_size == 0 || t.gradient_accumulation_steps == 0 {
            return Err(
                "train.batch_size and train.gradient_accumulation_steps must be at least 1".into(),
            );
        }
        if t.learning_rate <= 0.0 || !t.learning_rate.is_finite() {
            return Err(format!(
                "train.learning_rate must be positive, got {}",
                t.learning_rate
            ));
        }
        if t.eval_strategy == EvalStrategy::Steps && t.eval_steps.unwrap_or(0) == 0 {
            return Err("train.eval_strategy = \"steps\" needs train.eval_steps".into());
        }
        if let Some(f) = self.data.validation_fraction {
            if !(0.0..1.0).contains(&f) {
                return Err(format!(
                    "data.validation_fraction must be in [0, 1), got {f}"
                ));
            }
        }
        if self.lora.r == 0 {
            return Err("lora.r must be at least 1".into());
        }
        Ok(())
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }
}

fn recipe_error(path: &Path, text: &str, e: toml::de::Error) -> Error {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            Error::line(path, line, e.message().to_string())
        }
        None => Error::file(path, e.message().to_string()),
    }
}

/// `section.key=value`: the value is read as a TOML value when it parses as one (numbers,
/// booleans, arrays, quoted strings), else taken as a plain string.
pub fn apply_override(root: &mut toml::Value, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set {item}: expected section.key=value")))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!(
            "--set {item}: expected section.key=value"
        )));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut table = root
        .as_table_mut()
        .ok_or_else(|| Error::Config("recipe is not a table".into()))?;
    for part in &parts[..parts.len() - 1] {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("--set {item}: '{part}' is not a section")))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[model]\nname = \"m\"\ntask = \"seq2seq\"\n[data]\ntrain = \"t.jsonl\"\n";

    #[test]
    fn defaults_follow_transformers() {
        let r = Recipe::parse(MINIMAL, Path::new("r.toml"), &[]).unwrap();
        assert_eq!(r.train.learning_rate, 5e-5);
        assert_eq!(r.train.adam_epsilon, 1e-8);
        assert_eq!(r.train.max_grad_norm, 1.0);
        assert_eq!(r.train.lr_scheduler_type, Schedule::Linear);
        assert_eq!(r.lora.r, 8);
    }

    #[test]
    fn overrides_and_unknown_keys() {
        let r = Recipe::parse(
            MINIMAL,
            Path::new("r.toml"),
            &[
                "train.learning_rate=3e-4".into(),
                "data.train=../x.jsonl".into(),
                "lora.target_modules=[\"q\",\"v\"]".into(),
            ],
        )
        .unwrap();
        assert_eq!(r.train.learning_rate, 3e-4);
        assert_eq!(r.data.train.as_deref(), Some("../x.jsonl"));
        assert_eq!(r.lora.target_modules.unwrap(), vec!["q", "v"]);
        let err = Recipe::parse(
            MINIMAL,
            Path::new("r.toml"),
            &["train.learnin_rate=1".into()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("learnin_rate"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Recipe::parse(
            "[model]\nname = \"m\"\ntask = = 3\n",
            Path::new("r.toml"),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("r.toml, line 3"), "{err}");
    }
}
