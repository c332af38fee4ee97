//! Generation settings: Transformers' `GenerationConfig` fields that loratune implements, read
//! from a model's `generation_config.json` and overridden from the command line.
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

pub use crate::recipe::EarlyStopping;

/// `max_new_tokens` when neither the command line nor generation_config.json sets
/// `max_new_tokens` / `max_length` (Transformers would fall back to `max_length` 20).
pub(crate) const DEFAULT_MAX_NEW_TOKENS: usize = 128;

/// The fields of a `generation_config.json` that loratune reads (others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationConfigFile {
    pub(crate) max_length: Option<usize>,
    pub(crate) max_new_tokens: Option<usize>,
    pub(crate) min_length: Option<usize>,
    pub(crate) min_new_tokens: Option<usize>,
    pub(crate) num_beams: Option<usize>,
    pub(crate) length_penalty: Option<f64>,
    pub(crate) early_stopping: Option<EarlyStopping>,
    pub(crate) no_repeat_ngram_size: Option<usize>,
    pub(crate) repetition_penalty: Option<f64>,
    pub(crate) do_sample: Option<bool>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_k: Option<usize>,
    pub(crate) top_p: Option<f64>,
    /// An id or a list of ids.
    pub(crate) eos_token_id: Option<serde_json::Value>,
    pub(crate) decoder_start_token_id: Option<u32>,
    pub(crate) pad_token_id: Option<u32>,
}

impl GenerationConfigFile {
    pub fn load(path: &Path) -> Result<Self> {
        crate::hub::read_json(path)
    }

    /// `max_new_tokens`, else `max_length` − 1 (it counts the decoder start token), when the
    /// file sets either.
    pub(crate) fn max_new_tokens(&self) -> Option<usize> {
        self.max_new_tokens
            .or(self.max_length.map(|l| l.saturating_sub(1)))
    }

    /// The end-of-sequence ids, when the file sets them.
    pub(crate) fn eos_ids(&self) -> Option<Vec<u32>> {
        match self.eos_token_id.as_ref()? {
            serde_json::Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as u32)
                    .collect(),
            ),
            v => v.as_u64().map(|v| vec![v as u32]),
        }
    }
}

/// Values given explicitly (on the command line); they win over generation_config.json.
#[derive(Debug, Clone, Default)]
pub struct GenerationOverrides {
    pub max_new_tokens: Option<usize>,
    pub min_new_tokens: Option<usize>,
    pub num_beams: Option<usize>,
    pub length_penalty: Option<f64>,
    pub early_stopping: Option<EarlyStopping>,
    pub no_repeat_ngram_size: Option<usize>,
    pub repetition_penalty: Option<f64>,
    pub do_sample: Option<bool>,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
}

/// Everything one `generate` call needs. `Default` holds Transformers' defaults
/// (greedy, no penalties) with `max_new_tokens` = [`DEFAULT_MAX_NEW_TOKENS`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationSettings {
    pub max_new_tokens: usize,
    /// End-of-sequence is forbidden before this many new tokens (`min_new_tokens`, and
    /// `min_length` − 1 for the decoder start token).
    pub min_new_tokens: usize,
    pub num_beams: usize,
    /// Finished beams are ranked by log-probability / (generated tokens ^ length_penalty).
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub no_repeat_ngram_size: usize,
    pub repetition_penalty: f64,
    pub do_sample: bool,
    pub temperature: f64,
    /// 0 disables top-k.
    pub top_k: usize,
    pub top_p: f64,
    pub seed: u64,
    /// End-of-sequence ids; `None`: the model config's.
    pub eos_token_ids: Option<Vec<u32>>,
    /// `None`: the model config's.
    pub decoder_start_token_id: Option<u32>,
    pub pad_token_id: Option<u32>,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            min_new_tokens: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            do_sample: false,
            temperature: 1.0,
            top_k: 50,
            top_p: 1.0,
            seed: 0,
            eos_token_ids: None,
            decoder_start_token_id: None,
            pad_token_id: None,
        }
    }
}

impl GenerationSettings {
    /// Plain greedy decoding of up to `max_new_tokens` tokens.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            ..Default::default()
        }
    }

    /// Command line over generation_config.json over the defaults, as Transformers layers
    /// `generate(**kwargs)` over `model.generation_config` over its global defaults.
    pub fn resolve(file: Option<&GenerationConfigFile>, cli: &GenerationOverrides) -> Result<Self> {
        let d = Self::default();
        let f = file.cloned().unwrap_or_default();
        let max_new_tokens = cli
            .max_new_tokens
            .or(f.max_new_tokens())
            .unwrap_or(d.max_new_tokens);
        let min_new_tokens = match cli.min_new_tokens {
            Some(n) => n,
            None => f
                .min_new_tokens
                .unwrap_or(0)
                .max(f.min_length.unwrap_or(0).saturating_sub(1)),
        };
        let settings = Self {
            max_new_tokens,
            min_new_tokens,
            num_beams: cli.num_beams.or(f.num_beams).unwrap_or(d.num_beams),
            length_penalty: cli
                .length_penalty
                .or(f.length_penalty)
                .unwrap_or(d.length_penalty),
            early_stopping: cli
                .early_stopping
                .or(f.early_stopping)
                .unwrap_or(d.early_stopping),
            no_repeat_ngram_size: cli
                .no_repeat_ngram_size
                .or(f.no_repeat_ngram_size)
                .unwrap_or(0),
            repetition_penalty: cli
                .repetition_penalty
                .or(f.repetition_penalty)
                .unwrap_or(1.0),
            do_sample: cli.do_sample.or(f.do_sample).unwrap_or(false),
            temperature: cli.temperature.or(f.temperature).unwrap_or(d.temperature),
            top_k: cli.top_k.or(f.top_k).unwrap_or(d.top_k),
            top_p: cli.top_p.or(f.top_p).unwrap_or(d.top_p),
            seed: cli.seed.unwrap_or(0),
            eos_token_ids: f.eos_ids(),
            decoder_start_token_id: f.decoder_start_token_id,
            pad_token_id: f.pad_token_id,
        };
        settings.validate()?;
        Ok(settings)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if self.num_beams == 0 {
            return bad("num_beams must be at least 1".into());
        }
        if self.do_sample && self.num_beams > 1 {
            return bad("sampling with num_beams > 1 (beam sampling) is not supported".into());
        }
        if self.repetition_penalty.is_nan() || self.repetition_penalty <= 0.0 {
            return bad(format!(
                "repetition_penalty must be > 0, not {}",
                self.repetition_penalty
            ));
        }
        if self.do_sample && (self.temperature.is_nan() || self.temperature <= 0.0) {
            return bad(format!("temperature must be > 0, not {}", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad(format!("top_p must be in [0, 1], not {}", self.top_p));
        }
        if !self.length_penalty.is_finite() {
            return bad(format!(
                "length_penalty must be finite, not {}",
                self.length_penalty
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_over_file_over_defaults() {
        let file: GenerationConfigFile = serde_json::from_str(
            r#"{"max_length": 60, "min_length": 5, "num_beams": 4, "early_stopping": "never",
                "no_repeat_ngram_size": 3, "length_penalty": 2.0, "eos_token_id": [1, 2], "top_k": null}"#,
        )
        .unwrap();
        let s = GenerationSettings::resolve(Some(&file), &GenerationOverrides::default()).unwrap();
        assert_eq!(s.max_new_tokens, 59);
        assert_eq!(s.min_new_tokens, 4);
        assert_eq!(s.num_beams, 4);
        assert_eq!(s.early_stopping, EarlyStopping::Never);
        assert_eq!(s.top_k, 50);
        assert_eq!(s.eos_token_ids, Some(vec![1, 2]));
        let cli = GenerationOverrides {
            max_new_tokens: Some(7),
            num_beams: Some(1),
            early_stopping: Some(EarlyStopping::True),
            ..Default::default()
        };
        let s = GenerationSettings::resolve(Some(&file), &cli).unwrap();
        assert_eq!(
            (s.max_new_tokens, s.num_beams, s.early_stopping),
            (7, 1, EarlyStopping::True)
        );
        let s = GenerationSettings::resolve(None, &GenerationOverrides::default()).unwrap();
        assert_eq!(s, GenerationSettings::default());
        let es: GenerationConfigFile = serde_json::from_str(r#"{"early_stopping": true}"#).unwrap();
        assert_eq!(es.early_stopping, Some(EarlyStopping::True));
    }
}
