//! What the encoders' task heads share: new layers a checkpoint lacks, initialised as
//! Transformers does, and what an encoder computes for a batch.
use crate::error::Result;
use crate::nn::Weights;
use crate::nn::{Linear, Param};
use crate::rng::{Purpose, Stream};
use candle_core::Tensor;

/// Linear layers that a checkpoint may lack, initialised as Transformers' `_init_weights`
/// does (weight ~ normal(0, initializer_range), bias 0) from a seeded generator.
pub struct FreshInit {
    rng: Stream,
    std: f64,
    /// Names of the tensors created here rather than loaded.
    pub(crate) created: Vec<String>,
}

impl FreshInit {
    pub fn new(seed: u64, initializer_range: f64) -> Self {
        Self {
            rng: Stream::new(seed, Purpose::HeadInit, [0; 3]),
            std: initializer_range,
            created: Vec::new(),
        }
    }

    /// The checkpoint's `{name}.weight`/`.bias` when present, else a new layer.
    pub(crate) fn linear(
        &mut self,
        w: &Weights,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> Result<Linear> {
        if w.contains(&format!("{name}.weight")) {
            return Linear::load(w, name, in_features, out_features, true);
        }
        let values: Vec<f32> = (0..in_features * out_features)
            .map(|_| (self.rng.normal() * self.std) as f32)
            .collect();
        let weight =
            Tensor::from_vec(values, (out_features, in_features), &w.device)?.to_dtype(w.dtype)?;
        let bias = Tensor::zeros(out_features, w.dtype, &w.device)?;
        self.created.push(format!("{name}.weight"));
        self.created.push(format!("{name}.bias"));
        Ok(Linear::new(name, weight, Some(Param::frozen(bias))))
    }
}

/// What an encoder computes for a batch.
pub struct EncoderOutput {
    /// The embeddings, then every layer's output: layers + 1 tensors (batch, time, hidden).
    pub hidden_states: Vec<Tensor>,
    /// BERT's pooler output (batch, hidden); DistilBERT has no pooler.
    pub pooled: Option<Tensor>,
    /// (batch, labels)
    pub logits: Tensor,
}
