//! Token cross-entropy on the CPU in f32 as one op: a parallel pass over the rows keeps each
//! row's log-sum-exp, and the backward pass writes softmax − one-hot in a single pass.
use super::data::with_f32;
use super::math::exp;
use super::saved::Saved;
use super::simd::simd_dispatch;
use super::SendPtr;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Negative log-likelihood of `targets` (CPU u32, any shape S) under `logits` (CPU f32,
/// S × vocab); with a gradient when `logits` is on the graph.
pub fn token_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let op = CrossEntropy {
        lse: Saved::new("cross-entropy"),
    };
    let (logits, targets) = (logits.contiguous()?, targets.contiguous()?);
    if logits.track_op() {
        logits.apply_op2(&targets, op)
    } else {
        logits.apply_op2_no_bwd(&targets, &op)
    }
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
            *sum += exp(v - max);
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
        .for_each(|(o, v)| *o = grad * exp(v - lse));
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
