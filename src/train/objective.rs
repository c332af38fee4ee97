//! Training objectives of the tasks: token cross-entropy for seq2seq.
use super::trainer::Objective;
use crate::data::batch::Seq2SeqBatch;
use crate::data::dataset::Seq2SeqExample;
use crate::error::Result;
use crate::models::t5::T5;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;

/// Tokenized source/target pairs.
pub struct TokenizedPairs {
    pub sources: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
}

impl TokenizedPairs {
    pub fn new(examples: &[Seq2SeqExample], tokenizer: &TextTokenizer, max_source: usize, max_target: usize) -> Result<Self> {
        let src_tok = tokenizer.with_max_length(max_source)?;
        let tgt_tok = tokenizer.with_max_length(max_target)?;
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
        Seq2SeqBatch::new(&src, &tgt, cfg.pad_token_id, cfg.decoder_start(), &model.device)
    }

    /// Mean token cross-entropy over all targets (batched by `batch_size`, no dropout).
    pub fn mean_loss(&self, model: &T5, batch_size: usize) -> candle_core::Result<f64> {
        let mut total = 0.0f64;
        let mut tokens = 0usize;
        let rows: Vec<usize> = (0..self.len()).collect();
        for chunk in rows.chunks(batch_size.max(1)) {
            let batch = self.batch(model, chunk)?;
            total += model.token_nll(&batch, false)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
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
