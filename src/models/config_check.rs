//! A model's config.json checked on its own: everything the loaders check of it before they
//! read weights (architecture, sizes, activation, position embeddings, labels).
use super::bert::BertConfig;
use super::classifier::LabelConfig;
use super::distilbert::DistilBertConfig;
use super::model::{supported_type, Kind};
use super::t5::T5Config;
use crate::error::Result;
use crate::hub::parse_json;
use std::path::Path;

/// Checks the text of a config.json as opening the model would, without weights; `path`
/// names the file in errors. Returns what kind of model it describes.
pub fn check_config(text: &str, path: &Path) -> Result<Kind> {
    let (model_type, kind) = supported_type(text, path)?;
    match model_type {
        "t5" => {
            let config: T5Config = parse_json(text, path)?;
            config.validate(path)?;
            config.feed_forward()?;
        }
        "bert" => {
            let config: BertConfig = parse_json(text, path)?;
            config.check()?;
        }
        // distilbert, the only other supported type
        _ => {
            let config: DistilBertConfig = parse_json(text, path)?;
            config.spec()?.validate()?;
        }
    }
    if kind == Kind::Classifier {
        let labels: LabelConfig = parse_json(text, path)?;
        labels.names()?;
    }
    Ok(kind)
}
