//! The model's fast tokenizer (`tokenizer.json`) as Transformers calls it:
//! special tokens added, optional truncation that keeps them, decoding without them.
use crate::error::{Error, Result};
use crate::hub::ModelFiles;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    clean_up_spaces: bool,
}

impl TextTokenizer {
    pub fn load(files: &ModelFiles) -> Result<Self> {
        let mut inner = Tokenizer::from_file(&files.tokenizer).map_err(|e| Error::Tokenizer {
            path: files.tokenizer.clone(),
            message: e.to_string(),
        })?;
        inner.with_padding(None);
        let clean_up_spaces = files
            .tokenizer_config
            .as_deref()
            .and_then(|p| read_clean_up_flag(p).ok().flatten())
            .unwrap_or(false);
        let mut tokenizer = Self {
            inner,
            path: files.tokenizer.clone(),
            clean_up_spaces,
        };
        tokenizer.set_max_length(None)?;
        Ok(tokenizer)
    }

    /// `tokenizer(text, truncation=True, max_length=n)`; `None` turns truncation off.
    pub fn set_max_length(&mut self, max_length: Option<usize>) -> Result<()> {
        let params = max_length.map(|max_length| TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        });
        let path = self.path.clone();
        self.inner
            .with_truncation(params)
            .map_err(|e| Error::Tokenizer {
                path,
                message: e.to_string(),
            })?;
        Ok(())
    }

    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        let mut copy = self.clone();
        copy.set_max_length(Some(max_length))?;
        Ok(copy)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// `tokenizer.decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(if self.clean_up_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, message: String) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            message,
        }
    }
}

fn read_clean_up_flag(path: &Path) -> Result<Option<bool>> {
    let value: serde_json::Value = crate::hub::read_json(path)?;
    Ok(value
        .get("clean_up_tokenization_spaces")
        .and_then(|v| v.as_bool()))
}

/// Transformers' `clean_up_tokenization`: removes spaces before punctuation and contractions.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}
