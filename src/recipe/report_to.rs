//! `train.report_to`: where a run reports its metrics as it goes, besides `metrics.jsonl`
//! (Transformers' `TrainingArguments.report_to`). Written as a list (`["tensorboard"]`) or,
//! as Transformers also accepts, one string: `"tensorboard"`, `"none"` (no integration) or
//! `"all"` (every integration loratune has).
use serde::{Deserialize, Serialize};

/// An integration a run can report to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Integration {
    /// TensorBoard event files under `OUTPUT_DIR/runs/` (Transformers' layout).
    Tensorboard,
}

impl Integration {
    /// Every integration, what `"all"` stands for.
    pub const ALL: [Integration; 1] = [Integration::Tensorboard];

    fn parse(name: &str) -> Result<Integration, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tensorboard" => Ok(Integration::Tensorboard),
            other => Err(format!(
                "train.report_to: unknown integration '{other}' (loratune reports to \"tensorboard\"; \"none\" for no integration, \"all\" for every one)"
            )),
        }
    }
}

/// The integrations of `train.report_to`, sorted and without repeats (default: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ReportTo(Vec<Integration>);

impl ReportTo {
    pub fn contains(&self, integration: Integration) -> bool {
        self.0.contains(&integration)
    }

    fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<ReportTo, String> {
        let mut out = Vec::new();
        for name in names {
            match name.trim().to_ascii_lowercase().as_str() {
                "none" => {}
                "all" => out.extend(Integration::ALL),
                _ => out.push(Integration::parse(name)?),
            }
        }
        out.sort();
        out.dedup();
        Ok(ReportTo(out))
    }
}

impl<'de> Deserialize<'de> for ReportTo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "train.report_to must be a list of integrations (e.g. [\"tensorboard\"]) or one of \"tensorboard\", \"none\", \"all\"",
            )
        })?;
        match raw {
            Raw::One(name) => ReportTo::from_names([name.as_str()]),
            Raw::Many(names) => ReportTo::from_names(names.iter().map(String::as_str)),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReportTo, String> {
        #[derive(Deserialize)]
        struct T {
            report_to: ReportTo,
        }
        toml::from_str::<T>(&format!("report_to = {text}"))
            .map(|t| t.report_to)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn list_and_string_forms() {
        let tb = ReportTo(vec![Integration::Tensorboard]);
        assert_eq!(parse("[\"tensorboard\"]").unwrap(), tb);
        assert_eq!(parse("\"tensorboard\"").unwrap(), tb);
        assert_eq!(parse("\"all\"").unwrap(), tb);
        assert_eq!(parse("[\"TensorBoard\", \"tensorboard\"]").unwrap(), tb);
        assert_eq!(parse("\"none\"").unwrap(), ReportTo::default());
        assert_eq!(parse("[]").unwrap(), ReportTo::default());
        assert!(!ReportTo::default().contains(Integration::Tensorboard));
        let err = parse("[\"wandb\"]").unwrap_err();
        assert!(err.contains("unknown integration 'wandb'"), "{err}");
        let err = parse("3").unwrap_err();
        assert!(err.contains("must be a list"), "{err}");
    }

    #[test]
    fn written_as_a_list() {
        #[derive(Serialize)]
        struct T {
            report_to: ReportTo,
        }
        let text = toml::to_string(&T {
            report_to: ReportTo(vec![Integration::Tensorboard]),
        })
        .unwrap();
        assert_eq!(text, "report_to = [\"tensorboard\"]\n");
    }
}
