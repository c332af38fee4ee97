//! Sequence classification with BERT-family encoders: label names, new heads for
//! checkpoints that have none, and one type over the supported architectures.
use crate::data::tokenized::TokenizedTexts;
use crate::error::{Error, Result};
use crate::models::bert::BertForSequenceClassification;
use crate::models::distilbert::DistilBertForSequenceClassification;
use crate::models::head::EncoderOutput;
use crate::nn::Linear;
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The label fields of a config.json (any architecture).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LabelConfig {
    #[serde(default)]
    pub(crate) id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) num_labels: Option<usize>,
}

impl LabelConfig {
    /// `id2label` as a list indexed by label id; an error if the ids are not 0..n.
    pub(crate) fn names(&self) -> Result<Option<Vec<String>>> {
        let Some(map) = &self.id2label else {
            return Ok(None);
        };
        let mut names = vec![None; map.len()];
        for (id, name) in map {
            let index = id
                .parse::<usize>()
                .ok()
                .filter(|&i| i < map.len())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "config.json: id2label has key '{id}', expected 0..{}",
                        map.len()
                    ))
                })?;
            names[index] = Some(name.clone());
        }
        Ok(Some(names.into_iter().flatten().collect()))
    }
}

/// Which labels a classifier predicts, and their names when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub count: usize,
    /// `id2label`, from config.json or given label names.
    pub names: Option<Vec<String>>,
}

impl Labels {
    /// Settles the number of labels and their names.
    ///
    /// `head` is the checkpoint's number of labels when it has a classification head;
    /// `requested` and `given` come from the user (recipe, `--num-labels`, label names).
    /// Without a head and without a request the count follows config.json (`id2label`,
    /// `num_labels`), else Transformers' default of 2.
    pub(crate) fn resolve(
        config: &LabelConfig,
        head: Option<usize>,
        requested: Option<usize>,
        given: Option<Vec<String>>,
    ) -> Result<Self> {
        if let (Some(n), Some(names)) = (requested, &given) {
            if n != names.len() {
                return Err(Error::Config(format!(
                    "{n} labels requested but {} label names given",
                    names.len()
                )));
            }
        }
        let config_names = config.names()?;
        let wanted = requested.or(given.as_ref().map(Vec::len));
        let count = match (head, wanted) {
            (Some(h), Some(w)) if h != w => {
                return Err(Error::Config(format!(
                    "the checkpoint's classification head has {h} labels, but {w} were asked for"
                )))
            }
            (Some(h), _) => h,
            (None, Some(w)) => w,
            (None, None) => config_names
                .as_ref()
                .map(Vec::len)
                .or(config.num_labels)
                .unwrap_or(2),
        };
        if count == 0 {
            return Err(Error::Config(
                "a classifier needs at least one label".into(),
            ));
        }
        let names = given.or(config_names.filter(|n| n.len() == count));
        Ok(Self { count, names })
    }

    pub fn name(&self, id: usize) -> Option<&str> {
        self.names
            .as_ref()
            .and_then(|n| n.get(id))
            .map(String::as_str)
    }

    /// Writes `num_labels`, `id2label` and `label2id` into a config.json value (names
    /// default to Transformers' `LABEL_i`).
    pub(crate) fn write_config(&self, config: &mut serde_json::Value) {
        let names: Vec<String> = (0..self.count)
            .map(|i| {
                self.name(i)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect();
        config["num_labels"] = serde_json::json!(self.count);
        config["id2label"] = names
            .iter()
            .enumerate()
            .map(|(i, n)| (i.to_string(), serde_json::json!(n)))
            .collect();
        config["label2id"] = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), serde_json::json!(i)))
            .collect();
    }
}

pub enum Architecture {
    Bert(BertForSequenceClassification),
    DistilBert(DistilBertForSequenceClassification),
}

/// A BERT or DistilBERT sequence classifier (Transformers' `*ForSequenceClassification`).
pub struct SequenceClassifier {
    pub model: Architecture,
    pub labels: Labels,
    /// Tensors that were not in the checkpoint and were initialised afresh.
    pub new_weights: Vec<String>,
    pub pad_token_id: u32,
    pub dtype: DType,
    pub device: Device,
    /// Base parameters as PyTorch counts them (checkpoint tensors used + new head).
    pub parameter_count: usize,
}

impl crate::lora::Adaptable for SequenceClassifier {
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        SequenceClassifier::linears_mut(self)
    }

    fn base_parameter_count(&self) -> usize {
        self.parameter_count
    }
}

impl SequenceClassifier {
    /// Logits (rows, labels) of the given rows of `texts`.
    pub(crate) fn logits(
        &self,
        texts: &TokenizedTexts,
        rows: &[usize],
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let seqs = rows
            .iter()
            .map(|&i| texts.ids(i))
            .collect::<std::io::Result<Vec<_>>>()?;
        let (ids, mask) = crate::data::batch::pad(&seqs, self.pad_token_id, &self.device)?;
        self.forward(&ids, &mask, train)
    }

    /// The labels of the given rows, as a tensor for the loss.
    pub(crate) fn label_tensor(
        &self,
        texts: &TokenizedTexts,
        rows: &[usize],
    ) -> candle_core::Result<Tensor> {
        let labels: Vec<u32> = rows.iter().map(|&i| texts.labels[i] as u32).collect();
        Tensor::from_vec(labels, rows.len(), &self.device)
    }

    /// Predicted labels and the mean cross-entropy over all rows of `texts`.
    pub(crate) fn predict(
        &self,
        texts: &TokenizedTexts,
        batch_size: usize,
    ) -> candle_core::Result<(Vec<usize>, f64)> {
        let p = self.predict_with_probabilities(texts, batch_size)?;
        Ok((p.labels, p.loss))
    }

    /// Predicted labels, each row's class probabilities and the mean cross-entropy over all
    /// rows of `texts`.
    pub(crate) fn predict_with_probabilities(
        &self,
        texts: &TokenizedTexts,
        batch_size: usize,
    ) -> candle_core::Result<Predictions> {
        let mut labels = Vec::with_capacity(texts.len());
        let mut probabilities = Vec::with_capacity(texts.len());
        let mut loss = 0.0;
        let rows: Vec<usize> = (0..texts.len()).collect();
        for chunk in rows.chunks(batch_size.max(1)) {
            let logits = self.logits(texts, chunk, false)?;
            let nll = crate::nn::loss::token_nll(&logits, &self.label_tensor(texts, chunk)?)?;
            loss += nll.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            let best = logits.argmax(candle_core::D::Minus1)?.to_vec1::<u32>()?;
            labels.extend(best.into_iter().map(|b| b as usize));
            let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            probabilities.extend(rows.iter().map(|row| softmax(row)));
        }
        Ok(Predictions {
            labels,
            probabilities,
            loss: loss / texts.len().max(1) as f64,
        })
    }

    /// Logits (batch, labels) for `input_ids` (batch, time) with a 1/0 `mask` (batch, time).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        match &self.model {
            Architecture::Bert(m) => m.forward(input_ids, None, mask, train),
            Architecture::DistilBert(m) => m.forward(input_ids, mask, train),
        }
    }

    /// Logits together with every hidden state and the pooled output.
    pub fn forward_all(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<EncoderOutput> {
        match &self.model {
            Architecture::Bert(m) => m.forward_all(input_ids, None, mask, train),
            Architecture::DistilBert(m) => m.forward_all(input_ids, mask, train),
        }
    }

    /// The encoder's hidden states without the head: embeddings, then each layer.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        match &self.model {
            Architecture::Bert(m) => m.bert.hidden_states(input_ids, None, mask, train),
            Architecture::DistilBert(m) => m.distilbert.hidden_states(input_ids, mask, train),
        }
    }

    pub fn num_labels(&self) -> usize {
        self.labels.count
    }

    pub fn id2label(&self) -> Option<&[String]> {
        self.labels.names.as_deref()
    }

    /// The longest input the position embeddings allow.
    pub fn max_positions(&self) -> usize {
        match &self.model {
            Architecture::Bert(m) => m.bert.max_positions(),
            Architecture::DistilBert(m) => m.distilbert.max_positions(),
        }
    }

    /// Every linear layer (full Transformers module names), for adapter injection.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match &mut self.model {
            Architecture::Bert(m) => m.linears_mut(),
            Architecture::DistilBert(m) => m.linears_mut(),
        }
    }

    /// Logs the tensors that were initialised afresh, as Transformers warns.
    pub(crate) fn warn_new_weights(&self, model_class: &str, reference: &str) {
        if !self.new_weights.is_empty() {
            tracing::warn!(
                "Some weights of {model_class} were not initialized from the model checkpoint at {reference} \
                 and are newly initialized: {:?}. You should probably TRAIN this model on a down-stream task \
                 to be able to use it for predictions and inference.",
                self.new_weights
            );
        }
    }

    pub(crate) fn class_name(&self) -> &'static str {
        match &self.model {
            Architecture::Bert(_) => "BertForSequenceClassification",
            Architecture::DistilBert(_) => "DistilBertForSequenceClassification",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(names: &[&str]) -> LabelConfig {
        LabelConfig {
            id2label: Some(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (i.to_string(), n.to_string()))
                    .collect(),
            ),
            num_labels: None,
        }
    }

    #[test]
    fn labels_from_head_and_config() {
        let l = Labels::resolve(&config(&["neg", "pos"]), Some(2), None, None).unwrap();
        assert_eq!(
            l,
            Labels {
                count: 2,
                names: Some(vec!["neg".into(), "pos".into()])
            }
        );
        assert!(Labels::resolve(&config(&["neg", "pos"]), Some(2), Some(3), None).is_err());
    }

    #[test]
    fn labels_for_new_head() {
        let l = Labels::resolve(&LabelConfig::default(), None, Some(3), None).unwrap();
        assert_eq!(
            l,
            Labels {
                count: 3,
                names: None
            }
        );
        let l = Labels::resolve(&LabelConfig::default(), None, None, None).unwrap();
        assert_eq!(l.count, 2);
        let l = Labels::resolve(&config(&["a", "b"]), None, Some(3), None).unwrap();
        assert_eq!(
            l,
            Labels {
                count: 3,
                names: None
            }
        );
        let given = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let l = Labels::resolve(&LabelConfig::default(), None, None, Some(given.clone())).unwrap();
        assert_eq!(
            l,
            Labels {
                count: 3,
                names: Some(given.clone())
            }
        );
        assert!(Labels::resolve(&LabelConfig::default(), None, Some(2), Some(given)).is_err());
    }

    #[test]
    fn id2label_ordering_and_errors() {
        let mut c = config(&[]);
        c.id2label = Some(
            [
                ("1".into(), "b".into()),
                ("0".into(), "a".into()),
                ("10".into(), "k".into()),
            ]
            .into(),
        );
        assert!(c.names().is_err());
        c.id2label = Some((0..11).map(|i| (i.to_string(), format!("l{i}"))).collect());
        let names = c.names().unwrap().unwrap();
        assert_eq!(names[2], "l2");
        assert_eq!(names[10], "l10");
    }
}

/// What [`SequenceClassifier::predict_with_probabilities`] gives for every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// The class with the highest logit.
    pub labels: Vec<usize>,
    /// Softmax of the logits, per row.
    pub probabilities: Vec<Vec<f64>>,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Softmax of one row of logits, computed in f64.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let exps: Vec<f64> = logits.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}
