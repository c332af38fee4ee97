//! softmax(scale·q·kᵀ + bias), dropout, ·v on the CPU in f32, fused per (sequence, head) and run
//! in parallel over them, with its own backward pass: two single-threaded gemm calls per head with
//! the bias, softmax and dropout applied in between, while the scores are in cache. Training uses
//! it, and so does inference over several queries (keeping nothing for a backward pass).
//!
//! The softmax probabilities are the only saved activation; the dropout mask is regenerated in the
//! backward pass from a per-head seed. No score, bias-sum, mask or dropout tensor enters candle's
//! graph (which would keep five tensors of batch·heads·queries·keys floats per layer alive and
//! spend most of a step on single-threaded elementwise work).
mod backward;
mod forward;
#[cfg(test)]
mod tests;

use super::strided::Strided;
use super::{AttentionInputs, Heads};
use crate::nn::cpu::saved::Saved;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// The attention of CPU f32 `inputs` (checked by the caller), which are either all (batch, time,
/// heads·dim) projections, read head by head in place, or all (batch, heads, time, dim) views; the
/// result takes the same form, and so do the gradients. No split/merge copies and no view nodes
/// enter the graph. Without `with_gradient` nothing is kept for a backward pass and the result is
/// off the graph.
pub(super) fn attend(inputs: &AttentionInputs, with_gradient: bool) -> Result<Tensor> {
    let heads = match inputs.heads {
        Heads::Projected(heads) => heads,
        // 4-D inputs carry their own
        Heads::Split => inputs.q.dim(1)?,
    };
    let dropout = inputs.active_dropout();
    let op = FusedAttention {
        heads,
        bias: inputs.bias.cloned(),
        scale: inputs.scale as f32,
        dropout: dropout as f32,
        seed: if dropout > 0.0 {
            crate::nn::dropout::next_seed()
        } else {
            0
        },
        save: with_gradient,
        probs: Saved::new("attention"),
    };
    let (q, k, v) = (inputs.q, inputs.k, inputs.v);
    let out = if with_gradient {
        q.apply_op3(k, v, op)?
    } else {
        q.apply_op3_no_bwd(k, v, &op)?
    };
    if out.rank() == 4 {
        out.transpose(1, 2)
    } else {
        Ok(out)
    }
}

struct FusedAttention {
    /// Used with (batch, time, heads·dim) inputs; 4-D inputs carry their own.
    heads: usize,
    /// Additive bias broadcastable to (batch, heads, queries, keys); receives no gradient.
    bias: Option<Tensor>,
    scale: f32,
    dropout: f32,
    seed: u64,
    /// Whether a backward pass will follow (the probabilities are kept for it).
    save: bool,
    /// Softmax probabilities (before dropout) of every head, kept from forward to backward.
    probs: Saved<Vec<f32>>,
}

struct Dims {
    batch: usize,
    heads: usize,
    queries: usize,
    keys: usize,
    dim: usize,
    /// Inputs are (batch, time, heads·dim) projections.
    split: bool,
}

impl Dims {
    fn view(&self, layout: &Layout) -> Strided {
        if self.split {
            Strided::split(layout, self.heads)
        } else {
            Strided::heads_first(layout)
        }
    }

    /// The gradient of an input: where head `i`'s block starts and its row stride, in a
    /// contiguous buffer of the input's shape with `rows` time steps.
    fn gradient_block(&self, i: usize, rows: usize) -> (usize, usize) {
        let (b, h) = (i / self.heads, i % self.heads);
        if self.split {
            let width = self.heads * self.dim;
            (b * rows * width + h * self.dim, width)
        } else {
            (i * rows * self.dim, self.dim)
        }
    }
}

impl FusedAttention {
    /// Inputs are either all (batch, heads, time, dim) views, or all (batch, time, heads·dim)
    /// projections; the output and the gradients take the same form.
    fn dims(&self, q: &Layout, k: &Layout) -> Result<Dims> {
        match (q.dims(), k.dims()) {
            (&[batch, heads, queries, dim], &[_, _, keys, _]) => Ok(Dims {
                batch,
                heads,
                queries,
                keys,
                dim,
                split: false,
            }),
            (&[batch, queries, width], &[_, keys, _]) => Ok(Dims {
                batch,
                heads: self.heads,
                queries,
                keys,
                dim: width / self.heads,
                split: true,
            }),
            _ => Err(candle_core::Error::Msg(format!(
                "attention inputs of shapes {:?} and {:?}",
                q.dims(),
                k.dims()
            ))),
        }
    }
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward((qs, ql), (ks, kl), (vs, vl))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.backward(q, k, v, grad)
    }
}
