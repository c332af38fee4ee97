//! `eval.predict_with_generate` (Seq2SeqTrainer's name): an evaluation during training that
//! also generates for the validation examples, with the recipe's `[eval]` decoding options, and
//! scores the outputs against the references: `eval_rouge1`, `eval_rouge2`, `eval_rougeL`,
//! `eval_rougeLsum` (means of the per-example F-measures, stemmed, as the final report's) and,
//! with `eval.bertscore_model`, `eval_bertscore_f1`. Search objectives, `metric_for_best_model`
//! and early stopping can use them like any other evaluation metric.
use super::bertscore::BertScorer;
use super::evaluate::{bertscore_settings, decoding_settings};
use super::rouge::RougeScorer;
use crate::data::dataset::Seq2SeqExample;
use crate::error::Result;
use crate::generate::{GenerationConfigFile, GenerationSettings};
use crate::hub::ModelFiles;
use crate::models::t5::T5;
use crate::recipe::Recipe;
use crate::tokenizer::TextTokenizer;
use candle_core::Device;
use std::collections::BTreeMap;

pub struct GenerativeEval {
    settings: GenerationSettings,
    tokenizer: TextTokenizer,
    sources: Vec<Vec<u32>>,
    references: Vec<String>,
    batch_size: usize,
    rouge: RougeScorer,
    bertscore: Option<BertScorer>,
}

impl GenerativeEval {
    /// Prepares the generation of `examples` (the validation subset) as the recipe asks.
    pub fn new(
        recipe: &Recipe,
        files: &ModelFiles,
        examples: &[Seq2SeqExample],
        device: &Device,
    ) -> Result<Self> {
        let tokenizer = TextTokenizer::load(files)?;
        let texts: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        let sources = tokenizer
            .with_truncation_side(recipe.data.truncation_side)
            .with_max_length(recipe.data.max_source_tokens)?
            .encode_batch(&texts)?;
        let references: Vec<String> = examples.iter().map(|e| e.target.clone()).collect();
        let file = match &files.generation_config {
            Some(path) => Some(GenerationConfigFile::load(path)?),
            None => None,
        };
        let (settings, _) = decoding_settings(&recipe.eval, file.as_ref(), || {
            let targets: Vec<&str> = references.iter().map(String::as_str).collect();
            Ok(super::evaluate::percentile_95(
                tokenizer
                    .encode_batch(&targets)?
                    .iter()
                    .map(Vec::len)
                    .collect(),
            ))
        })?;
        let bertscore = match bertscore_settings(&recipe.eval)? {
            Some(settings) => Some(BertScorer::load(settings, device)?),
            None => None,
        };
        Ok(Self {
            settings,
            tokenizer,
            sources,
            references,
            batch_size: recipe.eval.batch_size.unwrap_or(8),
            rouge: RougeScorer::new(true),
            bertscore,
        })
    }

    /// Generates with `model` and scores the outputs: `eval_rouge*` (and `eval_bertscore_f1`).
    pub fn metrics(&self, model: &T5) -> Result<BTreeMap<String, f64>> {
        let outputs = crate::generate::generate_all(
            model,
            &self.sources,
            &self.settings,
            self.batch_size,
            |_| {},
        )?;
        let predictions = outputs
            .iter()
            .map(|ids| self.tokenizer.decode(ids))
            .collect::<Result<Vec<_>>>()?;
        let n = predictions.len().max(1) as f64;
        let mut sums = [0.0f64; 4];
        for (prediction, reference) in predictions.iter().zip(&self.references) {
            let s = self.rouge.score(reference, prediction);
            for (sum, value) in sums.iter_mut().zip([
                s.rouge1.fmeasure,
                s.rouge2.fmeasure,
                s.rouge_l.fmeasure,
                s.rouge_lsum.fmeasure,
            ]) {
                *sum += value;
            }
        }
        let mut metrics: BTreeMap<String, f64> = [
            "eval_rouge1",
            "eval_rouge2",
            "eval_rougeL",
            "eval_rougeLsum",
        ]
        .iter()
        .zip(sums)
        .map(|(name, sum)| (name.to_string(), sum / n))
        .collect();
        if let Some(scorer) = &self.bertscore {
            let scores = scorer.score(&predictions, &self.references)?;
            let f1 = scores.iter().map(|s| s.f1).sum::<f64>() / n;
            metrics.insert("eval_bertscore_f1".into(), f1);
        }
        Ok(metrics)
    }
}
