//! The model's fast tokenizer (`tokenizer.json`) as Transformers calls it:
//! special tokens added, optional truncation that keeps them, decoding without them.
use crate::error::{Error, Result};
use crate::hub::ModelFiles;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Which end of a too-long text is cut (Transformers' `truncation_side`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncationSide {
    /// Keep the beginning of the text.
    #[default]
    Right,
    /// Keep the end of the text.
    Left,
}

#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    clean_up_spaces: bool,
    side: TruncationSide,
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
            side: TruncationSide::Right,
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
            direction: match self.side {
                TruncationSide::Right => TruncationDirection::Right,
                TruncationSide::Left => TruncationDirection::Left,
            },
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

    /// A copy that truncates at `side` from now on (special tokens are always kept).
    pub fn with_truncation_side(&self, side: TruncationSide) -> Self {
        let mut copy = self.clone();
        copy.side = side;
        copy
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_tokenizer() -> TextTokenizer {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/distilbert/cls2"
        );
        TextTokenizer::load(&crate::hub::resolve_model(dir).unwrap()).unwrap()
    }

    #[test]
    fn left_truncation_keeps_the_end_and_the_special_tokens() {
        let tokenizer = fixture_tokenizer();
        let text =
            "the film starts slowly . the middle drags on and on . but the ending is wonderful";
        let full = tokenizer.encode(text).unwrap();
        assert!(full.len() > 8);
        let right = tokenizer.with_max_length(8).unwrap().encode(text).unwrap();
        let left = tokenizer
            .with_truncation_side(TruncationSide::Left)
            .with_max_length(8)
            .unwrap()
            .encode(text)
            .unwrap();
        assert_eq!(right.len(), 8);
        assert_eq!(left.len(), 8);
        let (first, last) = (full[0], full[full.len() - 1]);
        assert_eq!((left[0], left[7]), (first, last));
        assert_eq!((right[0], right[7]), (first, last));
        assert_eq!(right[1..7], full[1..7]);
        assert_eq!(left[1..7], full[full.len() - 7..full.len() - 1]);
    }
}
