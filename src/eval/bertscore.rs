//! BERTScore as `bert_score` 0.3.13 computes it: hidden states of layer N of a BERT or RoBERTa
//! encoder, L2-normalised, greedy cosine matching, [CLS]/[SEP] (`<s>`/`</s>`) weighted 0,
//! optional IDF weights from the references and optional baseline rescaling.
use crate::error::{Error, Result};
use crate::models::bert::BertModel;
use crate::tokenizer::TextTokenizer;
use candle_core::{DType, Device};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BertScoreSettings {
    pub model: String,
    pub layer: usize,
    pub idf: bool,
    /// A bert_score baseline CSV (`LAYER,P,R,F` rows) for rescaling.
    pub baseline: Option<PathBuf>,
    /// Pairs per scoring batch (bert_score's `batch_size`, default 64): padding inside a
    /// batch takes part in the greedy matching as zero similarity, as in bert_score.
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub struct BertScorer {
    settings: BertScoreSettings,
    model: BertModel,
    tokenizer: TextTokenizer,
    /// bert_score encodes RoBERTa (byte-level BPE) sentences with `add_prefix_space=True`.
    prefix_space: bool,
    pad_id: u32,
    cls_sep: [u32; 2],
    baseline: Option<[f64; 3]>,
    device: Device,
}

/// Token ids and unit-length embeddings of one sentence.
struct Embedded {
    ids: Vec<u32>,
    vectors: Vec<Vec<f32>>,
}

impl BertScorer {
    pub fn load(settings: BertScoreSettings, device: &Device) -> Result<Self> {
        let files = crate::hub::resolve_model(&settings.model)?;
        let (config, model) = crate::models::open_encoder(&files, DType::F32, device)?;
        if settings.layer > config.num_hidden_layers {
            return Err(Error::Config(format!(
                "BERTScore layer {} but {} has {} layers",
                settings.layer, settings.model, config.num_hidden_layers
            )));
        }
        let max_length = model_max_length(&files)
            .unwrap_or(model.max_positions())
            .min(model.max_positions());
        let tokenizer = TextTokenizer::load(&files)?.with_max_length(max_length)?;
        // The empty sentence is bert_score's `build_inputs_with_special_tokens([])`: [CLS] [SEP].
        let cls_sep = match tokenizer.encode("")?[..] {
            [cls, sep] => [cls, sep],
            ref other => {
                return Err(Error::Tokenizer {
                    path: files.tokenizer.clone(),
                    message: format!(
                        "an empty text encodes to {other:?}, expected a start and an end token"
                    ),
                })
            }
        };
        let baseline = match &settings.baseline {
            Some(path) => Some(read_baseline(path, settings.layer)?),
            None => None,
        };
        Ok(Self {
            settings,
            model,
            tokenizer,
            prefix_space: config.is_roberta(),
            pad_id: config.pad_id(),
            cls_sep,
            baseline,
            device: device.clone(),
        })
    }

    /// bert_score's hash of the settings (`get_hash`).
    pub fn hash(&self) -> String {
        let s = &self.settings;
        let mut hash = format!(
            "{}_L{}{}_version=0.3.13(loratune={})",
            s.model,
            s.layer,
            if s.idf { "_idf" } else { "_no-idf" },
            env!("CARGO_PKG_VERSION")
        );
        if self.baseline.is_some() {
            hash.push_str("-rescaled-custom");
        }
        hash.push_str("_fast-tokenizer");
        hash
    }

    /// Per-pair precision, recall and F1 (pairs in input order).
    pub fn score(&self, predictions: &[String], references: &[String]) -> Result<Vec<BertScore>> {
        if predictions.len() != references.len() {
            return Err(Error::Config(format!(
                "{} predictions but {} references",
                predictions.len(),
                references.len()
            )));
        }
        let mut unique: Vec<&str> = predictions
            .iter()
            .chain(references)
            .map(|s| python_strip(s))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        unique.sort_by_key(|s| std::cmp::Reverse(s.split(' ').count()));
        let embedded = self.embed(&unique)?;
        let idf = self.idf_weights(references, &embedded);
        let mut scores = Vec::with_capacity(predictions.len());
        let pairs: Vec<(&Embedded, &Embedded)> = predictions
            .iter()
            .zip(references)
            .map(|(p, r)| (&embedded[python_strip(p)], &embedded[python_strip(r)]))
            .collect();
        for batch in pairs.chunks(self.settings.batch_size.max(1)) {
            let longest_hyp = batch.iter().map(|(h, _)| h.ids.len()).max().unwrap_or(0);
            let longest_ref = batch.iter().map(|(_, r)| r.ids.len()).max().unwrap_or(0);
            for (hyp, reference) in batch {
                let score = greedy_match(hyp, reference, &idf, longest_hyp, longest_ref);
                scores.push(self.rescale(score));
            }
        }
        Ok(scores)
    }

    fn rescale(&self, s: BertScore) -> BertScore {
        match self.baseline {
            Some([p, r, f]) => BertScore {
                precision: (s.precision - p) / (1.0 - p),
                recall: (s.recall - r) / (1.0 - r),
                f1: (s.f1 - f) / (1.0 - f),
            },
            None => s,
        }
    }

    /// Weight of each token id: 1 (or IDF from the references), 0 for [CLS] and [SEP].
    fn idf_weights(&self, references: &[String], embedded: &HashMap<&str, Embedded>) -> IdfWeights {
        let mut weights = IdfWeights {
            table: HashMap::new(),
            default: 1.0,
        };
        if self.settings.idf {
            let documents = references.len() as f64;
            let mut counts: HashMap<u32, usize> = HashMap::new();
            for reference in references {
                for id in embedded[python_strip(reference)]
                    .ids
                    .iter()
                    .collect::<HashSet<_>>()
                {
                    *counts.entry(*id).or_default() += 1;
                }
            }
            weights.default = ((documents + 1.0) / 1.0).ln();
            for (id, count) in counts {
                weights
                    .table
                    .insert(id, ((documents + 1.0) / (count as f64 + 1.0)).ln());
            }
        }
        for id in self.cls_sep {
            weights.table.insert(id, 0.0);
        }
        weights
    }

    /// Token ids as bert_score's `sent_encode` makes them: the sentence stripped, special
    /// tokens added, truncated to the model's length. A RoBERTa sentence other than the empty
    /// one gets a leading space, as the slow `RobertaTokenizer` adds it for
    /// `add_prefix_space=True` (to the whole text, before special tokens are split off).
    pub fn encode(&self, sentences: &[&str]) -> Result<Vec<Vec<u32>>> {
        let texts: Vec<String> = sentences
            .iter()
            .map(|s| match python_strip(s) {
                s if self.prefix_space && !s.is_empty() => format!(" {s}"),
                s => s.to_string(),
            })
            .collect();
        self.tokenizer
            .encode_batch(&texts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn embed<'a>(&self, sentences: &[&'a str]) -> Result<HashMap<&'a str, Embedded>> {
        let mut out = HashMap::new();
        for chunk in sentences.chunks(self.settings.batch_size.max(1)) {
            let ids = self.encode(chunk)?;
            let (input, mask) = crate::data::batch::pad(&ids, self.pad_id, &self.device)?;
            let hidden = self.model.hidden_states(&input, None, &mask, false)?;
            let layer = hidden[self.settings.layer]
                .to_dtype(DType::F32)?
                .to_vec3::<f32>()?;
            for ((sentence, ids), rows) in chunk.iter().zip(ids).zip(layer) {
                let vectors = rows
                    .into_iter()
                    .take(ids.len())
                    .map(|v| {
                        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                        v.into_iter().map(|x| x / norm).collect()
                    })
                    .collect();
                out.insert(*sentence, Embedded { ids, vectors });
            }
        }
        Ok(out)
    }
}

struct IdfWeights {
    table: HashMap<u32, f64>,
    default: f64,
}

impl IdfWeights {
    fn get(&self, id: u32) -> f64 {
        self.table.get(&id).copied().unwrap_or(self.default)
    }
}

/// bert_score's `greedy_cos_idf` for one pair inside a batch padded to the given lengths.
fn greedy_match(
    hyp: &Embedded,
    reference: &Embedded,
    idf: &IdfWeights,
    hyp_padded: usize,
    ref_padded: usize,
) -> BertScore {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let sims: Vec<Vec<f32>> = hyp
        .vectors
        .iter()
        .map(|h| reference.vectors.iter().map(|r| dot(h, r)).collect())
        .collect();
    let pad_value = |padded: bool| if padded { Some(0.0f32) } else { None };
    let row_max = |i: usize| {
        sims[i]
            .iter()
            .copied()
            .chain(pad_value(reference.ids.len() < ref_padded))
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let col_max = |j: usize| {
        sims.iter()
            .map(|row| row[j])
            .chain(pad_value(hyp.ids.len() < hyp_padded))
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let weighted = |ids: &[u32], best: &dyn Fn(usize) -> f32| {
        let total: f64 = ids.iter().map(|&id| idf.get(id)).sum();
        ids.iter()
            .enumerate()
            .map(|(k, &id)| best(k) as f64 * idf.get(id) / total)
            .sum::<f64>()
    };
    let precision = weighted(&hyp.ids, &row_max);
    let recall = weighted(&reference.ids, &col_max);
    let only_special = |ids: &[u32]| ids.len() == 2;
    if only_special(&hyp.ids) || only_special(&reference.ids) {
        return BertScore {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
        };
    }
    let f1 = 2.0 * precision * recall / (precision + recall);
    BertScore {
        precision,
        recall,
        f1: if f1.is_nan() { 0.0 } else { f1 },
    }
}

/// bert_score's layer (`model2layers`) for the RoBERTa models, by Hub id with or without the
/// `FacebookAI/` owner and an `@revision`.
pub fn default_layer(model: &str) -> Option<usize> {
    let (id, _) = crate::hub::parse_repo_reference(model);
    match id.strip_prefix("FacebookAI/").unwrap_or(&id) {
        "roberta-large" => Some(17),
        "roberta-base" => Some(10),
        _ => None,
    }
}

/// Python's `str.strip()`: Unicode whitespace and the separators U+001C–U+001F.
pub(crate) fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn model_max_length(files: &crate::hub::ModelFiles) -> Option<usize> {
    let path = files.tokenizer_config.as_deref()?;
    let value: serde_json::Value = crate::hub::read_json(path).ok()?;
    value
        .get("model_max_length")?
        .as_u64()
        .map(|v| v as usize)
        .filter(|&v| v < 1_000_000)
}

fn read_baseline(path: &Path, layer: usize) -> Result<[f64; 3]> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 4 {
            continue;
        }
        if fields[0].parse::<usize>().ok() == Some(layer) {
            let parse = |s: &str| {
                s.parse::<f64>()
                    .map_err(|e| Error::line(path, i + 1, format!("{s}: {e}")))
            };
            return Ok([parse(fields[1])?, parse(fields[2])?, parse(fields[3])?]);
        }
    }
    Err(Error::file(
        path,
        format!("no baseline row for layer {layer}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_score_default_layers() {
        assert_eq!(default_layer("roberta-large"), Some(17));
        assert_eq!(default_layer("FacebookAI/roberta-large@main"), Some(17));
        assert_eq!(default_layer("roberta-base"), Some(10));
        assert_eq!(default_layer("../shared/models/all-MiniLM-L6-v2"), None);
    }

    #[test]
    fn strips_like_python() {
        assert_eq!(python_strip("\u{1f}\u{a0} a b\u{3000}\n\u{1c}"), "a b");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
        assert_eq!(python_strip(" \t "), "");
    }
}
