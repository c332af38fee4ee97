//! Comparing a model's outputs before and after a merge, for `merge --verify`.
use candle_core::{DType, Device, Result, Tensor};
use loratune::models::t5::T5;
use loratune::models::Model;

/// A few random token sequences to run through a model.
pub struct Probe {
    pub sequences: Vec<Vec<u32>>,
}

impl Probe {
    pub fn new(vocab: usize, count: usize, length: usize, seed: u64) -> Self {
        let mut rng = loratune::rng::Stream::new(seed, loratune::rng::Purpose::Synthetic, [0; 3]);
        let sequences = (0..count)
            .map(|_| {
                (0..length)
                    .map(|_| 3 + rng.below(vocab.max(4) - 3) as u32)
                    .collect()
            })
            .collect();
        Self { sequences }
    }

    /// The model's logits on the probe, on the CPU in f32.
    pub fn logits(&self, model: &Model) -> Result<Tensor> {
        match model {
            Model::Seq2Seq(m) => self.t5_logits(m),
            Model::Classifier(m) => self.classifier_logits(m),
        }
    }

    /// Decoder logits with the probe as both source and target.
    fn t5_logits(&self, model: &T5) -> Result<Tensor> {
        let cfg = &model.config;
        let batch = loratune::data::batch::Seq2SeqBatch::new(
            &self.sequences,
            &self.sequences,
            cfg.pad_token_id,
            cfg.decoder_start(),
            &model.device,
        )?;
        let encoded = model.encode(&batch.input_ids, &batch.attention_mask, false)?;
        model
            .decode(
                &batch.decoder_input_ids,
                &encoded,
                &batch.attention_mask,
                None,
                false,
            )?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)
    }
}

/// max |a − b| / max |a|.
pub fn max_relative_error(a: &Tensor, b: &Tensor) -> Result<f64> {
    let scale = a.abs()?.max_all()?.to_scalar::<f32>()?.max(1e-12) as f64;
    Ok((a - b)?.abs()?.max_all()?.to_scalar::<f32>()? as f64 / scale)
}

/// How close merged and unmerged outputs must be for a weight type.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-9,
        DType::F32 => 1e-4,
        _ => 3e-2,
    }
}

impl Probe {
    /// Classification logits of the probe sequences.
    fn classifier_logits(
        &self,
        model: &loratune::models::classifier::SequenceClassifier,
    ) -> Result<Tensor> {
        let (ids, mask) =
            loratune::data::batch::pad(&self.sequences, model.pad_token_id, &model.device)?;
        model
            .forward(&ids, &mask, false)?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)
    }
}
