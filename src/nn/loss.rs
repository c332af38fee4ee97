//! Token-level cross-entropy.
use candle_core::{Result, Tensor, D};

/// Negative log-likelihood of `targets` (u32, any shape S) under `logits` (S × vocab),
/// computed in f32. The row maximum is detached: it shifts the logits but needs no gradient.
pub fn token_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let logits = crate::nn::at_least_f32(logits)?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&targets.unsqueeze(D::Minus1)?.contiguous()?, D::Minus1)?;
    (lse - picked)?.squeeze(D::Minus1)
}

/// Mean of `values` where `mask` is 1 (both the same shape; mask f32 of 0/1).
pub fn masked_mean(values: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let count = mask.sum_all()?.to_scalar::<f32>()?.max(1.0);
    (values * mask)?.sum_all()? / count as f64
}
