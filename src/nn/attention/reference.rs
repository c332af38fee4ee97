//! Attention as a chain of candle ops: any device and dtype, with candle's gradients. [`attend`]
//! runs it where no CPU kernel applies, and the kernels are tested against it.
//!
//! [`attend`]: super::attend
use super::heads::{merge_heads, split_heads};
use super::{AttentionInputs, Heads};
use crate::nn::dropout::dropout;
use crate::nn::softmax::softmax_last_dim;
use candle_core::{Result, Tensor};

pub(super) fn attend(inputs: &AttentionInputs) -> Result<Tensor> {
    match inputs.heads {
        Heads::Projected(heads) => {
            let split = |x: &Tensor| split_heads(x, heads);
            merge_heads(&attend_heads(
                &split(inputs.q)?,
                &split(inputs.k)?,
                &split(inputs.v)?,
                inputs,
            )?)
        }
        Heads::Split => attend_heads(inputs.q, inputs.k, inputs.v, inputs),
    }
}

/// The attention of (batch, heads, time, dim) q, k, v; the softmax runs in f32 as in
/// Transformers.
fn attend_heads(q: &Tensor, k: &Tensor, v: &Tensor, inputs: &AttentionInputs) -> Result<Tensor> {
    let mut scores = q.matmul(&k.t()?)?;
    if inputs.scale != 1.0 {
        scores = (scores * inputs.scale)?;
    }
    let dtype = scores.dtype();
    let mut scores = crate::nn::at_least_f32(&scores)?;
    if let Some(bias) = inputs.bias {
        scores = scores.broadcast_add(&bias.to_dtype(scores.dtype())?)?;
    }
    let probs = softmax_last_dim(&scores)?.to_dtype(dtype)?;
    let probs = dropout(&probs, inputs.dropout, inputs.train)?;
    probs.matmul(&v.contiguous()?)
}
