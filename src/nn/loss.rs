//! Token-level cross-entropy.
//!
//! On the CPU in f32 it is one op: a parallel pass over the rows keeps each row's log-sum-exp,
//! and the backward pass writes softmax − one-hot in a single pass. As a chain of candle ops
//! (max, subtract, exp, sum, log, gather) it would take about a dozen passes and graph nodes over
//! the (tokens × vocabulary) logits, the largest activation of a seq2seq step.
use super::cpu_f32::{all_cpu_f32, simd_dispatch, with_f32, SendPtr};
use super::saved::Saved;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// Negative log-likelihood of `targets` (u32, any shape S) under `logits` (S × vocab),
/// computed in f32.
pub fn token_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if all_cpu_f32(&[logits]) && targets.dtype() == DType::U32 && targets.device().is_cpu() {
        let op = CrossEntropy {
            lse: Saved::new("cross-entropy"),
        };
        let (logits, targets) = (logits.contiguous()?, targets.contiguous()?);
        return if logits.track_op() {
            logits.apply_op2(&targets, op)
        } else {
            logits.apply_op2_no_bwd(&targets, &op)
        };
    }
    token_nll_graph(logits, targets)
}

/// [`token_nll`] as candle ops (any device and dtype). The row maximum is detached: it shifts
/// the logits but needs no gradient.
fn token_nll_graph(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
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

struct CrossEntropy {
    /// log Σ exp of every row, kept for the backward pass.
    lse: Saved<Vec<f32>>,
}

simd_dispatch! {
    /// log Σ exp(row).
    fn log_sum_exp(row: &[f32]) -> f32 = log_sum_exp_generic
}

#[inline(always)]
fn log_sum_exp_generic(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    for chunk in row.chunks(16) {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(*v);
        }
    }
    let max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sums = [0f32; 16];
    for chunk in row.chunks(16) {
        for (sum, v) in sums.iter_mut().zip(chunk) {
            *sum += super::cpu_f32::exp(v - max);
        }
    }
    max + sums.iter().sum::<f32>().ln()
}

simd_dispatch! {
    /// grad · (softmax(row) − one-hot(target)) into `out`.
    fn softmax_minus_onehot(row: &[f32], lse: f32, target: usize, grad: f32, out: &mut [f32]) = softmax_minus_onehot_generic
}

#[inline(always)]
fn softmax_minus_onehot_generic(row: &[f32], lse: f32, target: usize, grad: f32, out: &mut [f32]) {
    out.iter_mut()
        .zip(row)
        .for_each(|(o, v)| *o = grad * super::cpu_f32::exp(v - lse));
    out[target] -= grad;
}

fn rows_of(logits: &Layout, targets: &Layout) -> Result<(usize, usize)> {
    let vocab = *logits.dims().last().unwrap_or(&0);
    let rows = targets.shape().elem_count();
    if vocab == 0 || logits.shape().elem_count() != rows * vocab {
        candle_core::bail!(
            "cross-entropy: logits {:?} for targets {:?}",
            logits.shape(),
            targets.shape()
        );
    }
    Ok((rows, vocab))
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, vocab) = rows_of(ll, tl)?;
        let logits = &ls.as_slice::<f32>()?[ll.start_offset()..][..rows * vocab];
        let targets = &ts.as_slice::<u32>()?[tl.start_offset()..][..rows];
        if let Some(bad) = targets.iter().find(|t| **t as usize >= vocab) {
            candle_core::bail!("cross-entropy: target {bad} outside a vocabulary of {vocab}");
        }
        let lse: Vec<f32> = logits.par_chunks(vocab).map(log_sum_exp).collect();
        let nll: Vec<f32> = lse
            .iter()
            .zip(logits.chunks(vocab))
            .zip(targets)
            .map(|((l, row), t)| l - row[*t as usize])
            .collect();
        self.lse.keep(lse)?;
        Ok((CpuStorage::F32(nll), tl.shape().clone()))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let lse = self.lse.take()?;
        let (rows, vocab) = rows_of(logits.layout(), targets.layout())?;
        let grad = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let targets = targets.flatten_all()?.to_vec1::<u32>()?;
        let mut out = vec![0f32; rows * vocab];
        let out_ptr = SendPtr(out.as_mut_ptr());
        with_f32(logits, |ld| {
            let ld = &ld[logits.layout().start_offset()..][..rows * vocab];
            ld.par_chunks(vocab).enumerate().for_each(|(i, row)| {
                // SAFETY: each row writes only its own `vocab` elements of `out`.
                let o =
                    unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(i * vocab), vocab) };
                softmax_minus_onehot(row, lse[i], targets[i] as usize, grad[i], o);
            });
            Ok(())
        })?;
        Ok((
            Some(Tensor::from_vec(out, logits.shape(), logits.device())?),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_cross_entropy_matches_the_graph_version() -> Result<()> {
        let dev = Device::Cpu;
        let logits = (Tensor::randn(0f32, 3.0, (2, 5, 37), &dev)? + 1.0)?;
        let targets = Tensor::from_vec(
            (0..10u32).map(|i| (i * 7) % 37).collect::<Vec<_>>(),
            (2, 5),
            &dev,
        )?;
        let weights = Tensor::randn(0f32, 1.0, (2, 5), &dev)?;
        let (a, b) = (Var::from_tensor(&logits)?, Var::from_tensor(&logits)?);
        let fused = token_nll(a.as_tensor(), &targets)?;
        let graph = token_nll_graph(b.as_tensor(), &targets)?;
        let diff = (&fused - &graph)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "loss differs by {diff}");
        let ga = (fused * &weights)?.sum_all()?.backward()?;
        let gb = (graph * &weights)?.sum_all()?.backward()?;
        let diff = (ga.get(&a).expect("grad") - gb.get(&b).expect("grad"))?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-6, "gradient differs by {diff}");
        assert!(
            token_nll(&logits, &Tensor::new(&[[40u32; 5]; 2], &dev)?).is_err(),
            "a target outside the vocabulary"
        );
        Ok(())
    }
}
