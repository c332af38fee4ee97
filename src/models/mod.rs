//! Model architectures, one per file, and loading them from Hugging Face files.
pub(crate) mod bert;
pub mod classifier;
mod config_check;
pub mod distilbert;
pub(crate) mod encoder;
pub mod head;
mod model;
pub mod t5;

pub use config_check::check_config;
pub use model::{open, Kind, Model, Opened, Options};

use crate::error::Result;
use crate::hub::{read_json, ModelFiles};
use crate::nn::Weights;
use candle_core::{DType, Device};

/// A T5 and the checkpoint it came from.
fn load_t5(files: &ModelFiles, dtype: DType, device: &Device) -> Result<(t5::T5, Weights)> {
    let config: t5::T5Config = read_json(&files.config)?;
    config.validate(&files.config)?;
    let weights = Weights::load(&files.weights, dtype, device)?;
    let model = t5::T5::load(config, &weights)?;
    warn_unused(&weights);
    Ok((model, weights))
}

/// Logs checkpoint tensors that no layer used (position-id buffers aside).
fn warn_unused(weights: &Weights) {
    let unused: Vec<String> = weights
        .unused()
        .into_iter()
        .filter(|k| !k.ends_with("position_ids"))
        .collect();
    if !unused.is_empty() {
        tracing::warn!(
            "{}: {} checkpoint tensors not used: {:?}",
            weights.source().display(),
            unused.len(),
            unused
        );
    }
}

/// A sequence classifier from a BERT, RoBERTa or DistilBERT checkpoint, with or without a
/// classification head, and its adapter applied. A missing head (and a missing BERT pooler)
/// is initialised as Transformers does, from `seed`, and logged, unless the adapter provides
/// it. The number of labels comes from the checkpoint's head, else the adapter's saved head,
/// else `num_labels` or `labels`, else config.json.
fn open_classifier(
    files: &ModelFiles,
    options: &Options,
) -> Result<(classifier::SequenceClassifier, Weights)> {
    let (dtype, device) = (options.dtype, &options.device);
    let adapter = match &options.adapter {
        Some(dir) => Some(crate::lora::peft::Adapter::read(dir, dtype, device)?),
        None => None,
    };
    let num_labels = options
        .num_labels
        .or_else(|| adapter.as_ref().and_then(|a| a.head_labels()));
    let (mut model, weights) = build_classifier(
        files,
        num_labels,
        options.labels.clone(),
        options.seed,
        dtype,
        device,
    )?;
    if let (Some(adapter), Some(dir)) = (&adapter, &options.adapter) {
        let report = crate::lora::peft::apply(&mut model, adapter)?;
        crate::lora::peft::check_report(&report, dir)?;
        let provided: Vec<String> = report
            .saved
            .iter()
            .flat_map(|m| [format!("{m}.weight"), format!("{m}.bias")])
            .collect();
        model.new_weights.retain(|w| !provided.contains(w));
    }
    model.warn_new_weights(model.class_name(), &files.reference);
    Ok((model, weights))
}

fn build_classifier(
    files: &ModelFiles,
    num_labels: Option<usize>,
    labels: Option<Vec<String>>,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<(classifier::SequenceClassifier, Weights)> {
    use classifier::{Architecture, LabelConfig, Labels, SequenceClassifier};
    use head::FreshInit;
    let kind = model_type(files)?;
    let label_config: LabelConfig = read_json(&files.config)?;
    let mut weights = Weights::load(&files.weights, dtype, device)?;
    let head = weights.resolve("classifier.weight").and_then(|key| {
        weights
            .tensors()
            .get(&key)
            .and_then(|t| t.dims().first().copied())
    });
    let labels = Labels::resolve(&label_config, head, num_labels, labels)?;
    let (model, pad, new_weights) = match kind.as_str() {
        "bert" => {
            let config: bert::BertConfig = read_json(&files.config)?;
            weights.add_alias("bert.", "");
            let mut fresh = FreshInit::new(seed, config.initializer_range);
            let pad = config.pad_token_id.unwrap_or(0);
            let model = bert::BertForSequenceClassification::load(config, labels.count, &weights, &mut fresh)?;
            (Architecture::Bert(model), pad, fresh.created)
        }
        "distilbert" => {
            let config: distilbert::DistilBertConfig = read_json(&files.config)?;
            weights.add_alias("distilbert.", "");
            let mut fresh = FreshInit::new(seed, config.initializer_range);
            let pad = config.pad_token_id.unwrap_or(0);
            let model =
                distilbert::DistilBertForSequenceClassification::load(config, labels.count, &weights, &mut fresh)?;
            (Architecture::DistilBert(model), pad, fresh.created)
        }
        other => {
            return Err(crate::error::Error::Unsupported(format!(
                "{}: model_type '{other}' cannot be loaded as a sequence classifier (supported: bert, distilbert)",
                files.config.display()
            )))
        }
    };
    warn_unused(&weights);
    let mut classifier = SequenceClassifier {
        model,
        labels,
        new_weights,
        pad_token_id: pad,
        dtype,
        device: device.clone(),
        parameter_count: 0,
    };
    let fresh: usize = classifier
        .linears_mut()
        .into_iter()
        .flat_map(|l| {
            let weight = (l.weight.tensor().elem_count(), format!("{}.weight", l.name));
            let bias = l
                .bias
                .as_ref()
                .map(|b| (b.tensor().elem_count(), format!("{}.bias", l.name)));
            std::iter::once(weight).chain(bias)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter(|(_, name)| classifier.new_weights.contains(name))
        .map(|(count, _)| count)
        .sum();
    classifier.parameter_count = weights.used_parameter_count() + fresh;
    Ok((classifier, weights))
}

/// A plain `BertModel` or `RobertaModel` (config.json's `model_type`), for its hidden states
/// (e.g. BERTScore). The checkpoint's modules may carry the task model's prefix (`bert.`,
/// `roberta.`, as in roberta-large's `RobertaForMaskedLM`) or none.
pub fn open_encoder(
    files: &ModelFiles,
    dtype: DType,
    device: &Device,
) -> Result<(bert::BertConfig, bert::BertModel)> {
    let kind = model_type(files)?;
    if !matches!(kind.as_str(), "bert" | "roberta" | "") {
        return Err(crate::error::Error::Unsupported(format!(
            "{}: model_type '{kind}' is not a BERT-family encoder loratune can load (supported: bert, roberta)",
            files.config.display()
        )));
    }
    let config: bert::BertConfig = read_json(&files.config)?;
    let mut weights = Weights::load(&files.weights, dtype, device)?;
    weights.add_alias("", config.prefix());
    let model = bert::BertModel::load(&config, &weights, "", None)?;
    Ok((config, model))
}

/// The `model_type` of a config.json ("" when absent).
pub(crate) fn model_type(files: &ModelFiles) -> Result<String> {
    let value: serde_json::Value = read_json(&files.config)?;
    Ok(value
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string())
}
