//! One model handle for every command: a seq2seq model (T5) or a sequence classifier
//! (BERT, DistilBERT), opened by [`open`] from the model files and a few options,
//! with an adapter applied the same way for both kinds.
use super::classifier::SequenceClassifier;
use super::t5::T5;
use crate::error::{Error, Result};
use crate::hub::{parse_json, read_json, ModelFiles};
use crate::lora::Adaptable;
use crate::nn::Linear;
use crate::nn::Weights;
use candle_core::{DType, Device};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What a model does, decided once from its config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An encoder-decoder that generates text (T5, FLAN-T5).
    Seq2Seq,
    /// An encoder with a classification head (BERT, DistilBERT).
    Classifier,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Seq2Seq => "a seq2seq model (T5): `generate`, `loss`, task = \"seq2seq\"",
            Kind::Classifier => {
                "a sequence classifier (BERT, DistilBERT): `classify`, task = \"classification\""
            }
        }
    }
}

/// The architectures loratune implements, by config.json's `model_type`.
const SUPPORTED: &[(&str, Kind)] = &[
    ("t5", Kind::Seq2Seq),
    ("bert", Kind::Classifier),
    ("distilbert", Kind::Classifier),
];

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
}

/// The kind of the model in `files`; unsupported architectures are refused by name.
pub(crate) fn kind_of(files: &ModelFiles) -> Result<Kind> {
    let header: Header = read_json(&files.config)?;
    supported(header, &files.config).map(|(_, kind)| kind)
}

/// config.json's `model_type` and its kind, when loratune implements it (else refused by
/// name, listing what is supported); `config` names the file.
pub(crate) fn supported_type(text: &str, config: &Path) -> Result<(&'static str, Kind)> {
    supported(parse_json(text, config)?, config)
}

fn supported(header: Header, config: &Path) -> Result<(&'static str, Kind)> {
    let model_type = header.model_type.unwrap_or_default();
    let supported = || {
        SUPPORTED
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(&(name, kind)) = SUPPORTED.iter().find(|(name, _)| *name == model_type) else {
        let architecture = header
            .architectures
            .and_then(|a| a.first().cloned())
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        return Err(Error::Unsupported(format!(
            "{}: model_type '{model_type}'{architecture} is not supported (loratune implements: {})",
            config.display(),
            supported()
        )));
    };
    Ok((name, kind))
}

/// How to open a model.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kind the caller needs; a model of the other kind is refused with a clear message.
    pub expect: Option<Kind>,
    /// A PEFT adapter to apply (for a classifier its saved head also fixes the labels).
    pub adapter: Option<PathBuf>,
    /// Classifier: number of labels and their names, for a checkpoint without a head.
    pub num_labels: Option<usize>,
    pub labels: Option<Vec<String>>,
    /// Classifier: seed of a newly created head.
    pub seed: u64,
    pub dtype: DType,
    pub device: Device,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            expect: None,
            adapter: None,
            num_labels: None,
            labels: None,
            seed: 42,
            dtype: DType::F32,
            device: Device::Cpu,
        }
    }
}

/// A loaded model.
pub enum Model {
    Seq2Seq(T5),
    Classifier(SequenceClassifier),
}

/// A model with the checkpoint it came from (needed to write a merged model).
pub struct Opened {
    pub model: Model,
    pub weights: Weights,
}

/// Opens the model in `files` as `options` ask, adapter applied.
pub fn open(files: &ModelFiles, options: &Options) -> Result<Opened> {
    let kind = kind_of(files)?;
    if options.device.is_cpu() && matches!(options.dtype, DType::BF16 | DType::F16) {
        return Err(Error::Unsupported(format!(
            "{:?} weights need a GPU: candle has no {:?} matrix multiply on the CPU; use f32 there \
             (--dtype f32, model.dtype = \"f32\", train.precision = \"f32\")",
            options.dtype, options.dtype
        )));
    }
    if let Some(expected) = options.expect.filter(|e| *e != kind) {
        return Err(Error::Unsupported(format!(
            "{} is {}, not {}",
            files.reference,
            kind.describe(),
            expected.describe()
        )));
    }
    let (model, weights) = match kind {
        Kind::Seq2Seq => {
            let (mut model, weights) = super::load_t5(files, options.dtype, &options.device)?;
            if let Some(dir) = &options.adapter {
                crate::lora::peft::load_into(&mut model, dir)?;
            }
            (Model::Seq2Seq(model), weights)
        }
        Kind::Classifier => {
            let (model, weights) = super::open_classifier(files, options)?;
            (Model::Classifier(model), weights)
        }
    };
    Ok(Opened { model, weights })
}

impl Model {
    pub fn kind(&self) -> Kind {
        match self {
            Model::Seq2Seq(_) => Kind::Seq2Seq,
            Model::Classifier(_) => Kind::Classifier,
        }
    }

    pub fn into_seq2seq(self) -> Result<T5> {
        match self {
            Model::Seq2Seq(m) => Ok(m),
            Model::Classifier(_) => Err(Error::Unsupported(format!(
                "the model is {}, not {}",
                Kind::Classifier.describe(),
                Kind::Seq2Seq.describe()
            ))),
        }
    }

    pub fn into_classifier(self) -> Result<SequenceClassifier> {
        match self {
            Model::Classifier(m) => Ok(m),
            Model::Seq2Seq(_) => Err(Error::Unsupported(format!(
                "the model is {}, not {}",
                Kind::Seq2Seq.describe(),
                Kind::Classifier.describe()
            ))),
        }
    }

    /// What config.json of a merged model must say beyond the base model's: a classifier's
    /// class and labels (its head may be new). Owned, so the model can be merged meanwhile.
    pub fn merged_config_edit(&self) -> impl FnOnce(&mut serde_json::Value) + 'static {
        let head = match self {
            Model::Classifier(m) => Some((m.class_name(), m.labels.clone())),
            Model::Seq2Seq(_) => None,
        };
        move |config| {
            if let Some((class, labels)) = head {
                config["architectures"] = serde_json::json!([class]);
                labels.write_config(config);
            }
        }
    }

    /// Token vocabulary size (for probes).
    pub fn max_positions(&self) -> Option<usize> {
        match self {
            Model::Seq2Seq(_) => None,
            Model::Classifier(m) => Some(m.max_positions()),
        }
    }
}

impl Adaptable for Model {
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            Model::Seq2Seq(m) => m.linears_mut(),
            Model::Classifier(m) => m.linears_mut(),
        }
    }

    fn base_parameter_count(&self) -> usize {
        match self {
            Model::Seq2Seq(m) => m.base_parameter_count(),
            Model::Classifier(m) => m.base_parameter_count(),
        }
    }
}
