//! Tokenized examples, ready to batch: the form training and evaluation share. The token ids
//! live in [`TokenColumn`]s, which move to disk when a dataset is large.
use super::dataset::{ClassificationExample, Seq2SeqExample};
use super::token_column::TokenColumn;
use crate::error::Result;
use crate::tokenizer::TextTokenizer;

/// Tokenized source/target pairs.
pub struct TokenizedPairs {
    sources: TokenColumn,
    targets: TokenColumn,
}

impl TokenizedPairs {
    /// `sources` and `targets` are the tokenizers set up for each side (length limit,
    /// truncation side).
    pub fn new(
        examples: &[Seq2SeqExample],
        sources: &TextTokenizer,
        targets: &TextTokenizer,
    ) -> Result<Self> {
        let (sources, targets) = Self::encode(examples, sources, targets)?
            .into_iter()
            .unzip();
        Ok(Self {
            sources: TokenColumn::from_sequences(sources),
            targets: TokenColumn::from_sequences(targets),
        })
    }

    /// The (source, target) ids of each example.
    pub fn encode(
        examples: &[Seq2SeqExample],
        sources: &TextTokenizer,
        targets: &TextTokenizer,
    ) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
        let source_texts: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        let target_texts: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
        Ok(sources
            .encode_batch(&source_texts)?
            .into_iter()
            .zip(targets.encode_batch(&target_texts)?)
            .collect())
    }

    /// `len` pairs to be set in any order with [`TokenizedPairs::set`].
    pub fn with_len(len: usize) -> Self {
        Self {
            sources: TokenColumn::with_len(len),
            targets: TokenColumn::with_len(len),
        }
    }

    /// Stores pair `i`.
    pub fn set(&mut self, i: usize, (source, target): (Vec<u32>, Vec<u32>)) -> Result<()> {
        self.sources.set(i, &source).map_err(io_error)?;
        self.targets.set(i, &target).map_err(io_error)
    }

    pub fn source(&self, i: usize) -> std::io::Result<Vec<u32>> {
        self.sources.get(i)
    }

    pub fn target(&self, i: usize) -> std::io::Result<Vec<u32>> {
        self.targets.get(i)
    }

    pub fn target_len(&self, i: usize) -> usize {
        self.targets.seq_len(i)
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

fn io_error(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::Config(e.to_string())
}

/// Tokenized texts with their labels.
pub(crate) struct TokenizedTexts {
    ids: TokenColumn,
    pub(crate) labels: Vec<usize>,
}

impl TokenizedTexts {
    pub(crate) fn new(
        examples: &[ClassificationExample],
        tokenizer: &TextTokenizer,
        max_tokens: usize,
    ) -> Result<Self> {
        let (ids, labels) = Self::encode(examples, tokenizer, max_tokens)?
            .into_iter()
            .unzip();
        Ok(Self {
            ids: TokenColumn::from_sequences(ids),
            labels,
        })
    }

    /// The (ids, label) of each example.
    pub(crate) fn encode(
        examples: &[ClassificationExample],
        tokenizer: &TextTokenizer,
        max_tokens: usize,
    ) -> Result<Vec<(Vec<u32>, usize)>> {
        let tok = tokenizer.with_max_length(max_tokens)?;
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        Ok(tok
            .encode_batch(&texts)?
            .into_iter()
            .zip(examples.iter().map(|e| e.label))
            .collect())
    }

    /// `len` texts to be set in any order with [`TokenizedTexts::set`].
    pub(crate) fn with_len(len: usize) -> Self {
        Self {
            ids: TokenColumn::with_len(len),
            labels: vec![0; len],
        }
    }

    /// Stores text `i`.
    pub(crate) fn set(&mut self, i: usize, (ids, label): (Vec<u32>, usize)) -> Result<()> {
        self.labels[i] = label;
        self.ids.set(i, &ids).map_err(io_error)
    }

    pub(crate) fn ids(&self, i: usize) -> std::io::Result<Vec<u32>> {
        self.ids.get(i)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
