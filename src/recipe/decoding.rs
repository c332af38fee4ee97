//! Beam search termination, a decoding option that recipes, generation_config.json and the
//! command line share (defined here, below both the recipe and generation).
use serde::{Deserialize, Serialize};

/// Beam search termination (`early_stopping` = `true`, `false` or `"never"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// Stop an input as soon as `num_beams` finished hypotheses exist.
    True,
    /// Stop when the best running beam, scored at its current length, cannot beat the worst
    /// finished hypothesis (Transformers' default).
    #[default]
    False,
    /// Stop only when no running beam could beat the finished ones even at the maximum length
    /// (with a positive length penalty).
    Never,
}

impl std::str::FromStr for EarlyStopping {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Self::True),
            "false" | "0" | "no" => Ok(Self::False),
            "never" => Ok(Self::Never),
            other => Err(format!(
                "early stopping must be true, false or never, not '{other}'"
            )),
        }
    }
}

/// As generation_config.json writes it: `true`, `false` or `"never"`.
impl Serialize for EarlyStopping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::True => s.serialize_bool(true),
            Self::False => s.serialize_bool(false),
            Self::Never => s.serialize_str("never"),
        }
    }
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Self::True),
            Raw::Bool(false) => Ok(Self::False),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}
