//! Additive attention biases: 0 where a key is seen, the most negative f32 where it is masked.
use candle_core::{DType, Result, Tensor};

/// A padding mask (batch, key) of 1/0 → additive bias (batch, 1, 1, key): 0 where kept,
/// the most negative f32 where masked.
pub fn padding_bias(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let keep = mask.to_dtype(DType::F32)?;
    let bias = ((1.0 - keep)? * f32::MIN as f64)?;
    bias.reshape((b, 1, 1, t))
}

/// Causal bias (1, 1, query, key) for a decoder whose queries start at `offset`.
pub fn causal_bias(
    queries: usize,
    keys: usize,
    offset: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let values: Vec<f32> = (0..queries)
        .flat_map(|i| (0..keys).map(move |j| if j <= i + offset { 0.0 } else { f32::MIN }))
        .collect();
    Tensor::from_vec(values, (1, 1, queries, keys), device)
}
