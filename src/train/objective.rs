//! Training objectives of the tasks: token cross-entropy for seq2seq, cross-entropy over
//! labels for classification.
use super::trainer::Objective;
use crate::data::batch::Seq2SeqBatch;
use crate::data::dataset::{ClassificationExample, Seq2SeqExample};
use crate::error::Result;
use crate::models::classifier::SequenceClassifier;
use crate::models::t5::T5;
use crate::recipe::DataSection;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;

/// Tokenized source/target pairs.
pub struct TokenizedPairs {
    pub sources: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
}

impl TokenizedPairs {
    /// Sources are cut at the recipe's `truncation_side`, targets always keep their beginning.
    pub fn new(
        examples: &[Seq2SeqExample],
        tokenizer: &TextTokenizer,
        data: &DataSection,
    ) -> Result<Self> {
        let src_tok = tokenizer
            .with_truncation_side(data.truncation_side)
            .with_max_length(data.max_source_tokens)?;
        let tgt_tok = tokenizer.with_max_length(data.max_target_tokens)?;
        let sources: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        let targets: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
        Ok(Self {
            sources: src_tok.encode_batch(&sources)?,
            targets: tgt_tok.encode_batch(&targets)?,
        })
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub fn batch(&self, model: &T5, rows: &[usize]) -> candle_core::Result<Seq2SeqBatch> {
        let src: Vec<Vec<u32>> = rows.iter().map(|&i| self.sources[i].clone()).collect();
        let tgt: Vec<Vec<u32>> = rows.iter().map(|&i| self.targets[i].clone()).collect();
        let cfg = &model.config;
        Seq2SeqBatch::new(
            &src,
            &tgt,
            cfg.pad_token_id,
            cfg.decoder_start(),
            &model.device,
        )
    }

    /// Mean token cross-entropy over all targets (batched by `batch_size`, no dropout).
    pub fn mean_loss(&self, model: &T5, batch_size: usize) -> candle_core::Result<f64> {
        let mut total = 0.0f64;
        let mut tokens = 0usize;
        let rows: Vec<usize> = (0..self.len()).collect();
        for chunk in rows.chunks(batch_size.max(1)) {
            let batch = self.batch(model, chunk)?;
            total += model
                .token_nll(&batch, false)?
                .to_dtype(DType::F64)?
                .sum_all()?
                .to_scalar::<f64>()?;
            tokens += chunk.iter().map(|&i| self.targets[i].len()).sum::<usize>();
        }
        Ok(total / tokens.max(1) as f64)
    }
}

pub struct Seq2SeqObjective<'a> {
    pub model: &'a T5,
    pub train: TokenizedPairs,
    pub validation: Option<TokenizedPairs>,
    pub eval_batch_size: usize,
}

impl Objective for Seq2SeqObjective<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn batch_loss(&self, rows: &[usize], train: bool) -> candle_core::Result<Tensor> {
        self.model.loss(&self.train.batch(self.model, rows)?, train)
    }

    fn evaluate(&self) -> Result<Option<BTreeMap<String, f64>>> {
        let Some(validation) = self.validation.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let loss = validation.mean_loss(self.model, self.eval_batch_size)?;
        Ok(Some(BTreeMap::from([("eval_loss".to_string(), loss)])))
    }
}

/// Tokenized texts with their labels.
pub struct TokenizedTexts {
    pub ids: Vec<Vec<u32>>,
    pub labels: Vec<usize>,
}

impl TokenizedTexts {
    pub fn new(
        examples: &[ClassificationExample],
        tokenizer: &TextTokenizer,
        max_tokens: usize,
    ) -> Result<Self> {
        let tok = tokenizer.with_max_length(max_tokens)?;
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        Ok(Self {
            ids: tok.encode_batch(&texts)?,
            labels: examples.iter().map(|e| e.label).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Logits (rows, labels) of the given rows.
    pub fn logits(
        &self,
        model: &SequenceClassifier,
        rows: &[usize],
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let seqs: Vec<Vec<u32>> = rows.iter().map(|&i| self.ids[i].clone()).collect();
        let (ids, mask) = crate::data::batch::pad(&seqs, model.pad_token_id, &model.device)?;
        model.forward(&ids, &mask, train)
    }

    fn label_tensor(
        &self,
        model: &SequenceClassifier,
        rows: &[usize],
    ) -> candle_core::Result<Tensor> {
        let labels: Vec<u32> = rows.iter().map(|&i| self.labels[i] as u32).collect();
        Tensor::from_vec(labels, rows.len(), &model.device)
    }

    /// Predicted labels and the mean cross-entropy over all rows.
    pub fn predict(
        &self,
        model: &SequenceClassifier,
        batch_size: usize,
    ) -> candle_core::Result<(Vec<usize>, f64)> {
        let mut predictions = Vec::with_capacity(self.len());
        let mut loss = 0.0;
        let rows: Vec<usize> = (0..self.len()).collect();
        for chunk in rows.chunks(batch_size.max(1)) {
            let logits = self.logits(model, chunk, false)?;
            let nll = crate::nn::loss::token_nll(&logits, &self.label_tensor(model, chunk)?)?;
            loss += nll.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            let best = logits.argmax(candle_core::D::Minus1)?.to_vec1::<u32>()?;
            predictions.extend(best.into_iter().map(|b| b as usize));
        }
        Ok((predictions, loss / self.len().max(1) as f64))
    }
}

pub struct ClassificationObjective<'a> {
    pub model: &'a SequenceClassifier,
    pub train: TokenizedTexts,
    pub validation: Option<TokenizedTexts>,
    pub eval_batch_size: usize,
}

impl Objective for ClassificationObjective<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Mean cross-entropy over the batch (Transformers' sequence-classification loss).
    fn batch_loss(&self, rows: &[usize], train: bool) -> candle_core::Result<Tensor> {
        let logits = self.train.logits(self.model, rows, train)?;
        crate::nn::loss::token_nll(&logits, &self.train.label_tensor(self.model, rows)?)?.mean_all()
    }

    fn evaluate(&self) -> Result<Option<BTreeMap<String, f64>>> {
        let Some(validation) = self.validation.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let (predictions, loss) = validation.predict(self.model, self.eval_batch_size)?;
        let metrics = crate::eval::classification::ClassificationMetrics::compute(
            &predictions,
            &validation.labels,
            self.model.num_labels(),
        )?;
        Ok(Some(BTreeMap::from([
            ("eval_loss".to_string(), loss),
            ("eval_accuracy".to_string(), metrics.accuracy),
            ("eval_f1".to_string(), metrics.f1),
            ("eval_precision".to_string(), metrics.precision),
            ("eval_recall".to_string(), metrics.recall),
        ])))
    }
}
