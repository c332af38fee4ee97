//! Tokenized examples, ready to batch: the form training and evaluation share.
use crate::error::Result;
use crate::tokenizer::TextTokenizer;

use super::dataset::{ClassificationExample, Seq2SeqExample};

/// Tokenized source/target pairs.
pub struct TokenizedPairs {
    pub(crate) sources: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
}

impl TokenizedPairs {
    /// `sources` and `targets` are the tokenizers set up for each side (length limit,
    /// truncation side).
    pub fn new(
        examples: &[Seq2SeqExample],
        sources: &TextTokenizer,
        targets: &TextTokenizer,
    ) -> Result<Self> {
        let source_texts: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        let target_texts: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
        Ok(Self {
            sources: sources.encode_batch(&source_texts)?,
            targets: targets.encode_batch(&target_texts)?,
        })
    }

    /// Tokenized pairs from (source, target) ids.
    pub fn from_pairs(pairs: Vec<(Vec<u32>, Vec<u32>)>) -> Self {
        let (sources, targets) = pairs.into_iter().unzip();
        Self { sources, targets }
    }

    /// The (source, target) ids of each pair.
    pub fn into_pairs(self) -> Vec<(Vec<u32>, Vec<u32>)> {
        self.sources.into_iter().zip(self.targets).collect()
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// Tokenized texts with their labels.
pub(crate) struct TokenizedTexts {
    pub(crate) ids: Vec<Vec<u32>>,
    pub(crate) labels: Vec<usize>,
}

impl TokenizedTexts {
    pub(crate) fn new(
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

    /// Tokenized texts from (ids, label) pairs.
    pub(crate) fn from_pairs(pairs: Vec<(Vec<u32>, usize)>) -> Self {
        let (ids, labels) = pairs.into_iter().unzip();
        Self { ids, labels }
    }

    /// The (ids, label) of each text.
    pub(crate) fn into_pairs(self) -> Vec<(Vec<u32>, usize)> {
        self.ids.into_iter().zip(self.labels).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
