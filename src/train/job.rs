//! `train_recipe`: everything `loratune train` does, as one library call.
use super::callback::Callback;
use super::objective::{pair_tokenizers, ClassificationObjective, Seq2SeqObjective};
use super::splits::SplitPlan;
use super::trainer::{train_with, Objective, TrainReport, TrainRun};
use crate::data::dataset::{
    classification_example, seq2seq_example, ClassificationExample, Seq2SeqExample,
};
use crate::data::tokenized::{TokenizedPairs, TokenizedTexts};
use crate::error::{Error, Result};
use crate::eval::{example_fields, GenerativeEval};
use crate::jsonl::Row;
use crate::lora::config::TaskType;
use crate::lora::peft;
use crate::lora::{inject, trainable_parameters, Adaptable, LoraConfig, TrainableCounts};
use crate::models::{open, Kind, Options};
use crate::output::guard;
use crate::output::run_dir::{self, RunKind};
use crate::recipe::{Recipe, Task};
use candle_core::DType;
use std::path::Path;

/// The LoRA configuration a recipe asks for.
pub(crate) fn lora_config(recipe: &Recipe, model_type: &str) -> LoraConfig {
    let l = &recipe.lora;
    let mut config = LoraConfig::new(
        l.r,
        l.lora_alpha,
        l.lora_dropout,
        crate::lora::targets::default_targets(model_type),
    );
    if let Some(targets) = &l.target_modules {
        config.target_modules = targets.clone();
    }
    config.base_model_name_or_path = Some(recipe.model.name.clone());
    match recipe.model.task {
        Task::Seq2seq => {
            config.task_type = Some(TaskType::Seq2SeqLm);
            config.modules_to_save = l.modules_to_save.clone();
        }
        Task::Classification => {
            config.task_type = Some(TaskType::SeqCls);
            config.modules_to_save = Some(
                l.modules_to_save
                    .clone()
                    .unwrap_or_else(|| vec!["classifier".into()]),
            );
        }
    }
    config
}

/// Adds adapters to the model (fresh, or from `lora.init_adapter`), checks every target
/// matched, and returns the trainable tensors with the config that describes them.
pub(crate) fn prepare_lora(
    model: &mut dyn Adaptable,
    recipe: &Recipe,
    model_type: &str,
) -> Result<(LoraConfig, Vec<(String, candle_core::Var)>)> {
    let config = match &recipe.lora.init_adapter {
        Some(dir) => {
            peft::load_into(model, dir)?;
            // the adapter's config, now also compared with "all-linear" on the loaded model
            crate::lora::init_adapter::checked_config(recipe, Some(&mut *model))?
                .ok_or_else(|| Error::Config("lora.init_adapter is not set".into()))?
        }
        None => {
            let mut config = lora_config(recipe, model_type);
            let report = inject(model, &config, recipe.train.seed)?;
            if !report.unmatched_targets.is_empty() || !report.unmatched_saves.is_empty() {
                return Err(Error::Config(format!(
                    "LoRA target_modules {:?} / modules_to_save {:?} match no module of {} (module names look like '{}')",
                    report.unmatched_targets,
                    report.unmatched_saves,
                    recipe.model.name,
                    model.linears_mut().first().map(|l| l.name.clone()).unwrap_or_default()
                )));
            }
            // PEFT writes "all-linear" out as the module names it chose
            config.expand_all_linear(model);
            config
        }
    };
    let counts = TrainableCounts::of(model);
    tracing::info!("{counts}");
    eprintln!("{counts}");
    Ok((config, trainable_parameters(model)))
}

/// The scanned train and validation files of a seq2seq recipe (every row checked).
pub(crate) fn seq2seq_splits(recipe: &Recipe) -> Result<SplitPlan<'static, Seq2SeqExample>> {
    let fields = example_fields(&recipe.data);
    SplitPlan::new(&recipe.data, move |path: &Path, line, row: &Row| {
        seq2seq_example(row, line, &fields, path)
    })
}

pub fn train_recipe(recipe: &Recipe) -> Result<TrainReport> {
    train_recipe_with(recipe, Vec::new())
}

/// [`train_recipe`] with callbacks of the caller's (e.g. hyperparameter-search pruning), run
/// after the trainer's own.
pub(crate) fn train_recipe_with(
    recipe: &Recipe,
    callbacks: Vec<Box<dyn Callback + '_>>,
) -> Result<TrainReport> {
    super::early_stopping::validate(&recipe.train)?;
    // with lora.init_adapter, the adapter's LoRA values (the ones used) are recorded; a recipe
    // contradicting them is refused here, before any work
    let as_used = crate::lora::init_adapter::recipe_as_used(recipe)?;
    let files = crate::hub::resolve_model(&recipe.model.name)?;
    let model_type = crate::models::model_type(&files)?;
    let dtype = recipe.train.precision.dtype();
    if dtype == DType::F16 && model_type == "t5" {
        return Err(Error::Unsupported(
            "train.precision = \"fp16\" is refused for T5: its feed-forward activations exceed \
             float16's range (65504) and overflow to inf/NaN, in every framework (Transformers keeps \
             T5's `wo` in float32 for that reason); use \"bf16\" (same range as float32) or \"f32\""
                .into(),
        ));
    }
    let device = crate::device::select_device(recipe.train.device)?;
    if device.is_cpu() && matches!(dtype, DType::BF16 | DType::F16) {
        return Err(Error::Unsupported(format!(
            "train.precision = \"{}\" needs a GPU (candle has no {dtype:?} matrix multiply on the CPU)",
            recipe.train.precision
        )));
    }
    let resume = super::resume::checkpoint_to_resume(recipe)?;
    // the recipe as the run computes it: the checkpoint's copy is compared without the choice
    // of checkpoint
    let mut recorded = as_used;
    recorded.train.resume_from_checkpoint = None;
    let recipe_toml = recorded.to_toml()?;
    match &resume {
        Some(checkpoint) => {
            super::resume::check_recipe(checkpoint, &recipe_toml)?;
            // a run continues in place; a checkpoint resumed into a new folder starts one
            if !recipe.train.output_dir.join(run_dir::RUN_MARKER).is_file() {
                prepare_output_dir(recipe, &files)?;
            }
        }
        None => prepare_output_dir(recipe, &files)?,
    }
    let recipe_toml = Some(recipe_toml);
    // The model of the recipe's task, kept here for the objective that borrows it.
    let (mut seq2seq, mut classifier);
    let (objective, config, params): (Box<dyn Objective + '_>, _, _) = match recipe.model.task {
        Task::Seq2seq => {
            let splits = seq2seq_splits(recipe)?;
            needs_validation(recipe, splits.validation_len())?;
            let options = Options {
                expect: Some(Kind::Seq2Seq),
                dtype,
                device: device.clone(),
                ..Default::default()
            };
            seq2seq = open(&files, &options)?.model.into_seq2seq()?;
            let (config, params) = prepare_lora(&mut seq2seq, recipe, &model_type)?;
            let tokenizer = crate::tokenizer::TextTokenizer::load(&files)?;
            let (sources, targets) = pair_tokenizers(&tokenizer, &recipe.data)?;
            let mut train = TokenizedPairs::with_len(splits.train_len());
            let mut validation = TokenizedPairs::with_len(splits.validation_len());
            splits.build_into(
                |chunk| TokenizedPairs::encode(&chunk, &sources, &targets),
                |slot, pair| train.set(slot, pair),
                |slot, pair| validation.set(slot, pair),
            )?;
            let generative = match recipe.eval.predict_with_generate {
                true => Some(GenerativeEval::new(
                    recipe,
                    &files,
                    &splits.validation_examples()?,
                    &device,
                )?),
                false => None,
            };
            let objective = Seq2SeqObjective {
                model: &seq2seq,
                train,
                validation: Some(validation),
                eval_batch_size: recipe.train.batch_size,
                generative,
            };
            (Box::new(objective), config, params)
        }
        Task::Classification => {
            let options = Options {
                expect: Some(Kind::Classifier),
                num_labels: recipe.model.num_labels,
                labels: recipe.model.labels.clone(),
                seed: recipe.train.seed,
                dtype,
                device: device.clone(),
                ..Default::default()
            };
            classifier = open(&files, &options)?.model.into_classifier()?;
            let splits =
                classification_splits(recipe, classifier.num_labels(), classifier.id2label())?;
            needs_validation(recipe, splits.validation_len())?;
            let (config, params) = prepare_lora(&mut classifier, recipe, &model_type)?;
            let tokenizer = crate::tokenizer::TextTokenizer::load(&files)?
                .with_truncation_side(recipe.data.truncation_side);
            let max_tokens = recipe
                .data
                .max_source_tokens
                .min(classifier.max_positions());
            let mut train = TokenizedTexts::with_len(splits.train_len());
            let mut validation = TokenizedTexts::with_len(splits.validation_len());
            splits.build_into(
                |chunk| TokenizedTexts::encode(&chunk, &tokenizer, max_tokens),
                |slot, text| train.set(slot, text),
                |slot, text| validation.set(slot, text),
            )?;
            let objective = ClassificationObjective {
                model: &classifier,
                train,
                validation: Some(validation),
                eval_batch_size: recipe.train.batch_size.max(16),
            };
            (Box::new(objective), config, params)
        }
    };
    train_with(
        TrainRun {
            objective: objective.as_ref(),
            params,
            lora: &config,
            settings: &recipe.train,
            shuffle: recipe.data.shuffle,
            data_seed: recipe.data.seed,
            recipe_toml,
            resume,
        },
        callbacks,
    )
}

/// Early stopping evaluates: refuses it without validation examples.
fn needs_validation(recipe: &Recipe, examples: usize) -> Result<()> {
    if recipe.train.early_stopping_patience.is_some() && examples == 0 {
        return Err(Error::Config(
            "train.early_stopping_patience needs validation data: set data.validation or data.validation_fraction".into(),
        ));
    }
    Ok(())
}

/// Makes `train.output_dir` ready before any work: refuses a folder holding a previous run
/// (unless `overwrite_output_dir`) or files that are not a run, and never replaces a folder
/// holding the run's own inputs.
fn prepare_output_dir(recipe: &Recipe, files: &crate::hub::ModelFiles) -> Result<()> {
    let mut inputs: Vec<(&str, std::path::PathBuf)> = guard::model_inputs(files)
        .into_iter()
        .map(|p| ("the base model", p))
        .collect();
    for (_, path) in recipe.data.local_files() {
        inputs.push(("the data", path.into()));
    }
    if let Some(adapter) = &recipe.lora.init_adapter {
        inputs.push(("lora.init_adapter", adapter.clone()));
    }
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(l, p)| (*l, p.as_path())).collect();
    run_dir::prepare(
        &recipe.train.output_dir,
        RunKind::Train,
        recipe.train.overwrite_output_dir,
        &inputs,
    )
}

/// The scanned train and validation files of a classification recipe (every row checked).
pub(crate) fn classification_splits(
    recipe: &Recipe,
    num_labels: usize,
    names: Option<&[String]>,
) -> Result<SplitPlan<'static, ClassificationExample>> {
    let names = recipe
        .model
        .labels
        .as_deref()
        .or(names)
        .map(<[String]>::to_vec);
    let fields = example_fields(&recipe.data);
    SplitPlan::new(&recipe.data, move |path: &Path, line, row: &Row| {
        classification_example(row, line, &fields, names.as_deref(), num_labels, path)
    })
}
