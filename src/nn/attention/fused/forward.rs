//! The fused kernel's forward pass: each head's scores, softmax, dropout and product with v,
//! the heads in parallel.
use super::{Dims, FusedAttention};
use crate::nn::attention::rows::add_row;
use crate::nn::attention::strided::Strided;
use crate::nn::cpu::dropout::fill_mask;
use crate::nn::cpu::gemm::{matmul, Operand, Product};
use crate::nn::cpu::softmax::softmax_in_place;
use crate::nn::cpu::{with_optional_f32, SendPtr};
use candle_core::{CpuStorage, Layout, Result, Shape};
use rayon::prelude::*;

/// One head's inputs: its (batch, head) index, its q, k and v, and its bias.
struct HeadInputs<'a> {
    index: usize,
    q: Operand,
    k: Operand,
    v: Operand,
    bias: Option<(&'a [f32], &'a Strided)>,
}

impl FusedAttention {
    /// The output laid out (batch, queries, heads, dim): heads merged by a free reshape.
    pub(super) fn forward(
        &self,
        (qs, ql): (&CpuStorage, &Layout),
        (ks, kl): (&CpuStorage, &Layout),
        (vs, vl): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let n = self.dims(ql, kl)?;
        let (qd, kd, vd) = (
            qs.as_slice::<f32>()?,
            ks.as_slice::<f32>()?,
            vs.as_slice::<f32>()?,
        );
        let (qv, kv, vv) = (n.view(ql), n.view(kl), n.view(vl));
        let per_head = n.queries * n.keys;
        let mut probs = vec![
            0f32;
            if self.save {
                n.batch * n.heads * per_head
            } else {
                0
            }
        ];
        let mut out = vec![0f32; n.batch * n.queries * n.heads * n.dim];
        let out_ptr = SendPtr(out.as_mut_ptr());
        let out_row = n.heads * n.dim;
        let bias = self
            .bias
            .as_ref()
            .map(|t| t.broadcast_as((n.batch, n.heads, n.queries, n.keys)))
            .transpose()?;
        let mut run = |bias_data: Option<&[f32]>| {
            let bias_view = bias.as_ref().map(|t| Strided::heads_first(t.layout()));
            let head = |i: usize, p: &mut [f32]| {
                let (b, h) = (i / n.heads, i % n.heads);
                let inputs = HeadInputs {
                    index: i,
                    q: qv.operand(qd, (b, h), n.queries, n.dim),
                    k: kv.operand(kd, (b, h), n.keys, n.dim),
                    v: vv.operand(vd, (b, h), n.keys, n.dim),
                    bias: bias_data.zip(bias_view.as_ref()),
                };
                let out = out_ptr
                    .get()
                    .wrapping_add(b * n.queries * out_row + h * n.dim);
                self.forward_head(&n, inputs, p, out, out_row);
            };
            if self.save {
                probs
                    .par_chunks_mut(per_head)
                    .enumerate()
                    .for_each(|(i, p)| head(i, p));
            } else {
                (0..n.batch * n.heads)
                    .into_par_iter()
                    .for_each(|i| head(i, &mut vec![0f32; per_head]));
            }
        };
        with_optional_f32(bias.as_ref(), |data| {
            run(data);
            Ok(())
        })?;
        if self.save {
            self.probs.keep(probs)?;
        }
        let shape = if n.split {
            Shape::from((n.batch, n.queries, n.heads * n.dim))
        } else {
            Shape::from((n.batch, n.queries, n.heads, n.dim))
        };
        Ok((CpuStorage::F32(out), shape))
    }

    /// Softmax probabilities of a head into `probs`, and its output rows into `out` (rows
    /// `out_row` apart).
    fn forward_head(
        &self,
        n: &Dims,
        head: HeadInputs,
        probs: &mut [f32],
        out: *mut f32,
        out_row: usize,
    ) {
        let HeadInputs {
            index: i,
            q,
            k,
            v,
            bias,
        } = head;
        let (b, h) = (i / n.heads, i % n.heads);
        // SAFETY: operands come from checked layouts; `probs` is this head's own buffer.
        unsafe {
            matmul(
                probs.as_mut_ptr(),
                n.keys,
                q,
                k.t(),
                Product::SERIAL.scaled(self.scale),
            )
        };
        for (row, s) in probs.chunks_exact_mut(n.keys).enumerate() {
            if let Some((data, view)) = bias {
                let start = view.start(b, h) + row * view.row;
                if view.col == 1 {
                    add_row(s, &data[start..start + n.keys]);
                } else {
                    s.iter_mut()
                        .enumerate()
                        .for_each(|(j, x)| *x += data[start + j * view.col]);
                }
            }
            softmax_in_place(s);
        }
        let weights = if self.dropout > 0.0 {
            let mut mask = vec![0f32; probs.len()];
            fill_mask(self.seed, i, self.dropout, &mut mask);
            mask.iter_mut().zip(probs.iter()).for_each(|(m, p)| *m *= p);
            std::borrow::Cow::Owned(mask)
        } else {
            std::borrow::Cow::Borrowed(&*probs)
        };
        // SAFETY: `out` is this head's own (queries × dim) block of the output.
        unsafe {
            matmul(
                out,
                out_row,
                Operand::dense(&weights, n.queries, n.keys),
                v,
                Product::SERIAL,
            )
        };
    }
}
