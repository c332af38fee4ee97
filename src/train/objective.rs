//! Training objectives of the tasks: token cross-entropy for seq2seq, cross-entropy over
//! labels for classification.
use super::trainer::Objective;
use crate::data::batch::Seq2SeqBatch;
use crate::data::classification_metrics::ClassificationMetrics;
use crate::data::tokenized::{TokenizedPairs, TokenizedTexts};
use crate::error::Result;
use crate::eval::GenerativeEval;
use crate::models::classifier::SequenceClassifier;
use crate::models::t5::T5;
use crate::recipe::DataSection;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;

/// The source and target tokenizers a recipe's `[data]` asks for: sources cut at its
/// `truncation_side`, targets always keep their beginning.
pub fn pair_tokenizers(
    tokenizer: &TextTokenizer,
    data: &DataSection,
) -> Result<(TextTokenizer, TextTokenizer)> {
    Ok((
        tokenizer
            .with_truncation_side(data.truncation_side)
            .with_max_length(data.max_source_tokens)?,
        tokenizer.with_max_length(data.max_target_tokens)?,
    ))
}

/// A padded batch of the given rows.
pub fn pairs_batch(
    pairs: &TokenizedPairs,
    model: &T5,
    rows: &[usize],
) -> candle_core::Result<Seq2SeqBatch> {
    let src = rows
        .iter()
        .map(|&i| pairs.source(i))
        .collect::<std::io::Result<Vec<_>>>()?;
    let tgt = rows
        .iter()
        .map(|&i| pairs.target(i))
        .collect::<std::io::Result<Vec<_>>>()?;
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
pub(crate) fn mean_loss(
    pairs: &TokenizedPairs,
    model: &T5,
    batch_size: usize,
) -> candle_core::Result<f64> {
    let mut total = 0.0f64;
    let mut tokens = 0usize;
    let rows: Vec<usize> = (0..pairs.len()).collect();
    for chunk in rows.chunks(batch_size.max(1)) {
        let batch = pairs_batch(pairs, model, chunk)?;
        total += model
            .token_nll(&batch, false)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
        tokens += chunk.iter().map(|&i| pairs.target_len(i)).sum::<usize>();
    }
    Ok(total / tokens.max(1) as f64)
}

pub(crate) struct Seq2SeqObjective<'a> {
    pub(crate) model: &'a T5,
    pub(crate) train: TokenizedPairs,
    pub(crate) validation: Option<TokenizedPairs>,
    pub(crate) eval_batch_size: usize,
    /// `eval.predict_with_generate`: evaluations also generate and report ROUGE (BERTScore).
    pub(crate) generative: Option<GenerativeEval>,
}

impl Objective for Seq2SeqObjective<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn batch_loss(&self, rows: &[usize], train: bool) -> candle_core::Result<Tensor> {
        self.model
            .loss(&pairs_batch(&self.train, self.model, rows)?, train)
    }

    fn evaluate(&self) -> Result<Option<BTreeMap<String, f64>>> {
        let Some(validation) = self.validation.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let loss = mean_loss(validation, self.model, self.eval_batch_size)?;
        let mut metrics = BTreeMap::from([("eval_loss".to_string(), loss)]);
        if let Some(generative) = &self.generative {
            metrics.extend(generative.metrics(self.model)?);
        }
        Ok(Some(metrics))
    }
}

pub(crate) struct ClassificationObjective<'a> {
    pub(crate) model: &'a SequenceClassifier,
    pub(crate) train: TokenizedTexts,
    pub(crate) validation: Option<TokenizedTexts>,
    pub(crate) eval_batch_size: usize,
}

impl Objective for ClassificationObjective<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Mean cross-entropy over the batch (Transformers' sequence-classification loss).
    fn batch_loss(&self, rows: &[usize], train: bool) -> candle_core::Result<Tensor> {
        let logits = self.model.logits(&self.train, rows, train)?;
        crate::nn::loss::token_nll(&logits, &self.model.label_tensor(&self.train, rows)?)?
            .mean_all()
    }

    fn evaluate(&self) -> Result<Option<BTreeMap<String, f64>>> {
        let Some(validation) = self.validation.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let (predictions, loss) = self.model.predict(validation, self.eval_batch_size)?;
        let metrics = ClassificationMetrics::compute(
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
