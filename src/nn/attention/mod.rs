//! Multi-head attention shared by T5, BERT and DistilBERT: softmax(scale·q·kᵀ + bias), dropout on
//! the probabilities in training, ·v.
//!
//! [`attend`] is the one entry point. On the CPU in f32 it runs a fused kernel (`one_query.rs` for
//! a decoding step, else `fused/` per (sequence, head) with its own backward pass), elsewhere the
//! chain of candle ops in `reference.rs`, which the kernels are tested against. The kernels never
//! call back into either.
mod bias;
mod fused;
mod heads;
mod one_query;
mod reference;
mod rows;
mod strided;

pub use bias::{causal_bias, padding_bias};
pub use heads::{merge_heads, split_heads};

use crate::nn::cpu::all_cpu_f32;
use candle_core::{Result, Tensor};

/// How q, k and v hold their heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heads {
    /// (batch, time, heads·dim) projections as the linear layers give them, with this many heads;
    /// the result takes the same form.
    Projected(usize),
    /// (batch, heads, time, dim) views, as a KV cache holds them (incremental decoding); the
    /// result takes the same form. On the CPU it has no gradient.
    Split,
}

/// One attention call: softmax(q·kᵀ·scale + bias)·v, with dropout on the probabilities in
/// training.
pub struct AttentionInputs<'a> {
    pub q: &'a Tensor,
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    pub heads: Heads,
    /// Additive, broadcast over (batch, heads, query, key).
    pub bias: Option<&'a Tensor>,
    pub scale: f64,
    /// The dropout probability, applied in training only.
    pub dropout: f64,
    pub train: bool,
}

impl AttentionInputs<'_> {
    /// The dropout probability this call applies.
    fn active_dropout(&self) -> f64 {
        if self.train {
            self.dropout
        } else {
            0.0
        }
    }
}

/// The attention of `inputs` (see [`AttentionInputs`]), on whatever device and dtype they have.
pub fn attend(inputs: &AttentionInputs) -> Result<Tensor> {
    match Kernel::choose(inputs)? {
        Some(Kernel::OneQuery) => one_query::attend(inputs.q, inputs.k, inputs.v, inputs.bias),
        Some(Kernel::Fused { with_gradient }) => fused::attend(inputs, with_gradient),
        None => reference::attend(inputs),
    }
}

/// The CPU kernels.
#[derive(Debug)]
enum Kernel {
    OneQuery,
    Fused { with_gradient: bool },
}

impl Kernel {
    /// The kernel for CPU f32 inputs of the rank their [`Heads`] says, whose bias needs no
    /// gradient; `None` for any other inputs.
    fn choose(inputs: &AttentionInputs) -> Result<Option<Self>> {
        let (q, k, v) = (inputs.q, inputs.k, inputs.v);
        let mut tensors = vec![q, k, v];
        tensors.extend(inputs.bias);
        let rank = match inputs.heads {
            Heads::Projected(_) => 3,
            Heads::Split => 4,
        };
        if !all_cpu_f32(&tensors)
            || inputs.bias.is_some_and(Tensor::track_op)
            || [q, k, v].iter().any(|x| x.rank() != rank)
        {
            return Ok(None);
        }
        let one_query = q.dim(2)? == 1 && inputs.scale == 1.0 && inputs.active_dropout() == 0.0;
        Ok(Some(match inputs.heads {
            Heads::Projected(_) => Self::Fused {
                with_gradient: q.track_op() || k.track_op() || v.track_op(),
            },
            Heads::Split if one_query => Self::OneQuery,
            Heads::Split => Self::Fused {
                with_gradient: false,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::Device;

    /// The inputs of a decoding step: (batch, heads, time, dim) views, no scaling, no dropout.
    fn split<'a>(
        q: &'a Tensor,
        k: &'a Tensor,
        v: &'a Tensor,
        bias: Option<&'a Tensor>,
    ) -> AttentionInputs<'a> {
        AttentionInputs {
            q,
            k,
            v,
            heads: Heads::Split,
            bias,
            scale: 1.0,
            dropout: 0.0,
            train: false,
        }
    }

    #[test]
    fn decoding_step_kernels_match_the_reference() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, t) = (3, 4, 7);
        for (tq, d) in [(1, 20), (1, 16), (5, 20), (5, 16)] {
            let q = random_normal((b, h, tq, d), 0.0, 1.0, 1);
            // keys/values as views into larger buffers (like a cache with spare capacity)
            let kb = random_normal((b, h, t + 5, d), 0.0, 1.0, 2);
            let vb = random_normal((b, h, t + 5, d), 0.0, 1.0, 3);
            let (k, v) = (kb.narrow(2, 0, t)?, vb.narrow(2, 0, t)?);
            let pos = random_normal((1, h, tq, t), 0.0, 1.0, 4);
            let mut pad = vec![0f32; b * t];
            pad[t - 1] = f32::MIN;
            pad[2 * t - 2] = f32::MIN;
            let pad = Tensor::from_vec(pad, (b, 1, 1, t), &dev)?;
            let causal = causal_bias(tq, t, t - tq, &dev)?;
            for bias in [None, Some(&pos), Some(&pad), Some(&causal)] {
                let fast = attend(&split(&q, &k, &v, bias))?;
                let (k, v) = (k.contiguous()?, v.contiguous()?);
                let slow = reference::attend(&split(&q, &k, &v, bias))?;
                let diff = max_abs_diff(&fast, &slow)?;
                assert!(diff < 1e-5, "queries {tq}: max diff {diff}");
            }
        }
        Ok(())
    }
}
