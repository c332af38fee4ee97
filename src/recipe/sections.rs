//! The recipe's sections, one struct each. Every key has a `///` line; defaults are the
//! `Default` impls (Transformers' where a key mirrors one of its options).
use super::decoding::EarlyStopping;
use super::report_to::ReportTo;
use super::target_modules::TargetModules;
use crate::device::{DeviceChoice, DtypeChoice, Precision};
use crate::tokenizer::TruncationSide;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Seq2seq,
    Classification,
}

/// `[model]`. `name` and `task` are required, so this section has no `Default`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A local model directory or a Hugging Face repo id (`owner/name[@revision]`).
    pub(crate) name: String,
    /// `seq2seq` or `classification`.
    pub(crate) task: Task,
    /// Classification: the number of classes (default: the checkpoint's, or the labels').
    #[serde(default)]
    pub(crate) num_labels: Option<usize>,
    /// Classification: class names, in label-id order.
    #[serde(default)]
    pub(crate) labels: Option<Vec<String>>,
    /// Weight type for evaluation and merging: `f32`, `bf16` or `f16`.
    #[serde(default)]
    pub(crate) dtype: DtypeChoice,
}

/// `[data]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Training file (`.jsonl`, `.json`, `.csv`, `.parquet`) or `hf:OWNER/NAME[:CONFIG]:SPLIT`.
    pub(crate) train: Option<String>,
    /// Validation file (default: none, or a share of `train` with `validation_fraction`).
    pub(crate) validation: Option<String>,
    /// Test file for evaluation (default: `validation`).
    pub(crate) test: Option<String>,
    /// Seq2seq: the column holding the source text.
    pub(crate) source_field: String,
    /// Seq2seq: the column holding the target text.
    pub(crate) target_field: String,
    /// Classification: the column holding the text.
    pub(crate) text_field: String,
    /// Classification: the column holding the label (an integer or a name from `labels`).
    pub(crate) label_field: String,
    /// A template with `{column}` placeholders that builds the source (or text) from a row.
    pub(crate) prompt: Option<String>,
    /// Longest source in tokens (also the text length for classification).
    pub(crate) max_source_tokens: usize,
    /// Longest target in tokens.
    pub(crate) max_target_tokens: usize,
    /// `right` keeps a long source's beginning, `left` its end (Transformers' `truncation_side`).
    pub(crate) truncation_side: TruncationSide,
    /// A seeded random subset of this many training rows.
    pub(crate) train_samples: Option<usize>,
    /// A seeded random subset of this many validation rows.
    pub(crate) validation_samples: Option<usize>,
    /// A seeded random subset of this many test rows.
    pub(crate) test_samples: Option<usize>,
    /// Without `validation`: this share of `train` (in [0, 1)) held out for validation.
    pub(crate) validation_fraction: Option<f64>,
    /// Shuffle the training rows each epoch.
    pub(crate) shuffle: bool,
    /// Seed of the subsets, the validation share and the shuffling.
    pub(crate) seed: u64,
    /// Skip rows whose source, target or text is empty instead of refusing them.
    pub(crate) skip_empty: bool,
}

impl DataSection {
    /// The data files on this machine (not `hf:` datasets), each with its key.
    pub(crate) fn local_files(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("data.train", &self.train),
            ("data.validation", &self.validation),
            ("data.test", &self.test),
        ]
        .into_iter()
        .filter_map(|(key, path)| Some((key, path.as_deref()?)))
        .filter(|(_, path)| !path.starts_with("hf:"))
    }
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            train: None,
            validation: None,
            test: None,
            source_field: "source".into(),
            target_field: "target".into(),
            text_field: "text".into(),
            label_field: "label".into(),
            prompt: None,
            max_source_tokens: 512,
            max_target_tokens: 128,
            truncation_side: TruncationSide::Right,
            train_samples: None,
            validation_samples: None,
            test_samples: None,
            validation_fraction: None,
            shuffle: true,
            seed: 42,
            skip_empty: false,
        }
    }
}

/// `[lora]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSection {
    /// Rank of the update B·A.
    pub(crate) r: usize,
    /// Scale numerator: the update is multiplied by `lora_alpha / r`.
    pub(crate) lora_alpha: f64,
    /// Dropout on the LoRA input.
    pub(crate) lora_dropout: f64,
    /// Modules to adapt (default: PEFT's for the architecture): a list of names (suffixes),
    /// `"all-linear"` (every linear layer but the output layer) or a regular expression that
    /// must match a module's whole name.
    pub(crate) target_modules: Option<TargetModules>,
    /// Modules trained in full and saved with the adapter (classification: `classifier`).
    pub(crate) modules_to_save: Option<Vec<String>>,
    /// Start from this adapter (PEFT format) instead of a fresh one. Its `adapter_config.json`
    /// fixes r, lora_alpha, lora_dropout, target_modules and modules_to_save: those keys may be
    /// left out, and any that are set must agree with it.
    pub(crate) init_adapter: Option<PathBuf>,
    /// The keys the recipe file or a `--set` gave (the others hold defaults).
    #[serde(skip)]
    pub(crate) given: BTreeSet<String>,
}

impl LoraSection {
    /// Whether the recipe set `key` itself rather than leaving its default.
    pub(crate) fn is_given(&self, key: &str) -> bool {
        self.given.contains(key)
    }
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            r: 8,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: None,
            modules_to_save: None,
            init_adapter: None,
            given: BTreeSet::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

/// `train.resume_from_checkpoint`: `true` (the newest checkpoint of the run), `false` (none)
/// or a checkpoint folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResumeFrom {
    Latest(bool),
    Checkpoint(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalStrategy {
    No,
    Epoch,
    Steps,
}

/// `[train]`. Defaults follow Transformers' `TrainingArguments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Folder of the run: adapter, checkpoints, metrics, report.
    pub output_dir: PathBuf,
    /// Replace a previous run in `output_dir` (as Transformers' `overwrite_output_dir`); without
    /// it, a folder holding a run is refused. `--overwrite` sets it.
    pub overwrite_output_dir: bool,
    /// Peak learning rate of AdamW.
    pub learning_rate: f64,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Batches whose gradients add up to one optimizer step.
    pub(crate) gradient_accumulation_steps: usize,
    /// Epochs to train (fractions allowed), unless `max_steps` is set.
    pub(crate) num_train_epochs: f64,
    /// Optimizer steps to train (overrides `num_train_epochs`).
    pub max_steps: Option<usize>,
    /// Steps of linear warm-up from 0 to `learning_rate`.
    pub warmup_steps: usize,
    /// `constant`, `linear` or `cosine` decay after warm-up.
    pub(crate) lr_scheduler_type: Schedule,
    /// AdamW decoupled weight decay (biases and norms excluded, as in the Trainer).
    pub(crate) weight_decay: f64,
    /// AdamW β1.
    pub(crate) adam_beta1: f64,
    /// AdamW β2.
    pub(crate) adam_beta2: f64,
    /// AdamW ε.
    pub(crate) adam_epsilon: f64,
    /// Gradient clipping by global norm (0 disables clipping).
    pub(crate) max_grad_norm: f64,
    /// Seed of the LoRA initialisation, a new classification head and every dropout mask
    /// (`data.seed` orders and samples the data).
    pub(crate) seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N` (also used by evaluation and merging).
    pub(crate) device: DeviceChoice,
    /// Training precision: `f32`, `bf16` (GPU only) or `fp16`.
    pub(crate) precision: Precision,
    /// When to compute the validation loss: `no`, `epoch` or `steps`.
    pub(crate) eval_strategy: EvalStrategy,
    /// With `eval_strategy = "steps"`: every this many optimizer steps.
    pub(crate) eval_steps: Option<usize>,
    /// Keep the adapter with the best validation metric instead of the last one.
    pub(crate) save_best: bool,
    /// The metric `save_best` compares (default: the validation loss).
    pub(crate) metric_for_best_model: Option<String>,
    /// Write a checkpoint every this many optimizer steps.
    pub(crate) save_steps: Option<usize>,
    /// Keep only the newest this many checkpoints (never deleting the best one).
    pub(crate) save_total_limit: Option<usize>,
    /// Continue from a checkpoint: `true` for the newest in `output_dir/checkpoints`, or a
    /// checkpoint folder (Transformers' name; `--resume` sets it).
    pub resume_from_checkpoint: Option<ResumeFrom>,
    /// Log the training loss every this many optimizer steps.
    pub(crate) logging_steps: usize,
    /// Halve the batch (doubling accumulation) when a batch does not fit in memory.
    pub(crate) auto_batch_size: bool,
    /// Stop after this many evaluations in a row without improvement (Transformers'
    /// `EarlyStoppingCallback`); needs an `eval_strategy`. Unset: no early stopping.
    pub(crate) early_stopping_patience: Option<usize>,
    /// The least change of the metric for best model that counts as an improvement.
    pub(crate) early_stopping_threshold: f64,
    /// Skip an optimizer step whose loss or gradient is not finite (counted and logged)
    /// instead of stopping the run.
    pub(crate) skip_nonfinite_steps: bool,
    /// Integrations that see the metrics as the run goes (Transformers' name): a list such as
    /// `["tensorboard"]`, or one of `"tensorboard"`, `"none"`, `"all"`. Default: none.
    pub report_to: ReportTo,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            output_dir: PathBuf::from("runs/latest"),
            overwrite_output_dir: false,
            learning_rate: 5e-5,
            batch_size: 8,
            gradient_accumulation_steps: 1,
            num_train_epochs: 3.0,
            max_steps: None,
            warmup_steps: 0,
            lr_scheduler_type: Schedule::Linear,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            seed: 42,
            device: DeviceChoice::Auto,
            precision: Precision::F32,
            eval_strategy: EvalStrategy::No,
            eval_steps: None,
            save_best: false,
            metric_for_best_model: None,
            save_steps: None,
            save_total_limit: None,
            resume_from_checkpoint: None,
            logging_steps: 10,
            auto_batch_size: false,
            early_stopping_patience: None,
            early_stopping_threshold: 0.0,
            skip_nonfinite_steps: false,
            report_to: ReportTo::default(),
        }
    }
}

/// `[eval]`. The decoding keys are those of `loratune generate`: a key set here wins over the
/// model's `generation_config.json`, which wins over the defaults (greedy; `max_new_tokens`:
/// the 95th percentile of the reference lengths). Unset keys are `None`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSection {
    /// Test examples compared (a seeded random subset).
    pub(crate) samples: usize,
    /// Seed of that subset, and of sampling with `do_sample`.
    pub(crate) seed: u64,
    /// Most tokens generated per input.
    pub(crate) max_new_tokens: Option<usize>,
    /// End-of-sequence is forbidden before this many new tokens.
    pub(crate) min_new_tokens: Option<usize>,
    /// Beam search with this many beams (1: greedy or sampling).
    pub(crate) num_beams: Option<usize>,
    /// Beam search: finished hypotheses are scored log-prob / length^penalty.
    pub(crate) length_penalty: Option<f64>,
    /// Beam search termination: `true`, `false` or `"never"`.
    pub(crate) early_stopping: Option<EarlyStopping>,
    /// Forbid repeating any n-gram of this size (0: off).
    pub(crate) no_repeat_ngram_size: Option<usize>,
    /// Penalise tokens already generated (1.0: off).
    pub(crate) repetition_penalty: Option<f64>,
    /// Sample instead of greedy decoding.
    pub(crate) do_sample: Option<bool>,
    /// Sampling: keep the k most likely tokens (0: off).
    pub(crate) top_k: Option<usize>,
    /// Sampling: keep the most likely tokens up to this probability mass (1.0: off).
    pub(crate) top_p: Option<f64>,
    /// Sampling temperature.
    pub(crate) temperature: Option<f64>,
    /// Inputs per batch (default: 8 for generation, 32 for classification).
    pub(crate) batch_size: Option<usize>,
    /// BERTScore encoder (a directory or Hub id); unset: no BERTScore.
    pub(crate) bertscore_model: Option<String>,
    /// The encoder layer BERTScore compares (required with `bertscore_model`).
    pub(crate) bertscore_layer: Option<usize>,
    /// Seq2SeqTrainer's name: each evaluation during training also generates for the
    /// validation examples (with these decoding options) and reports `eval_rouge1/2/L/Lsum`
    /// (and `eval_bertscore_f1` with `bertscore_model`).
    pub(crate) predict_with_generate: bool,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            samples: 50,
            seed: 42,
            max_new_tokens: None,
            min_new_tokens: None,
            num_beams: None,
            length_penalty: None,
            early_stopping: None,
            no_repeat_ngram_size: None,
            repetition_penalty: None,
            do_sample: None,
            top_k: None,
            top_p: None,
            temperature: None,
            batch_size: None,
            bertscore_model: None,
            bertscore_layer: None,
            predict_with_generate: false,
        }
    }
}
