//! The fused kernel's backward pass: each head's gradients of q, k and v from its saved
//! probabilities (the dropout mask regenerated from its seed), the heads in parallel.
use super::FusedAttention;
use crate::nn::attention::rows::softmax_grad;
use crate::nn::attention::strided::Strided;
use crate::nn::cpu::dropout::fill_mask;
use crate::nn::cpu::gemm::{matmul, Operand, Product};
use crate::nn::cpu::{with_f32, SendPtr};
use candle_core::{Result, Shape, Tensor};
use rayon::prelude::*;

impl FusedAttention {
    /// The gradients of q, k and v (`None` for an input off the graph) from the output's.
    pub(super) fn backward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let probs = self.probs.take()?;
        let n = self.dims(q.layout(), k.layout())?;
        let (qv, kv, vv) = (n.view(q.layout()), n.view(k.layout()), n.view(v.layout()));
        let gv = if n.split {
            Strided::split(grad.layout(), n.heads)
        } else {
            Strided::rows_first(grad.layout())
        };
        let (qn, kn) = (n.queries * n.dim, n.keys * n.dim);
        // an input off the graph (e.g. k and v of the first layer when only q has an adapter) gets no gradient
        let (need_q, need_k, need_v) = (q.track_op(), k.track_op(), v.track_op());
        let buffer = |needed: bool, len: usize| {
            if needed {
                vec![0f32; n.batch * n.heads * len]
            } else {
                Vec::new()
            }
        };
        let (mut dq, mut dk, mut dv) = (buffer(need_q, qn), buffer(need_k, kn), buffer(need_v, kn));
        let (dq_ptr, dk_ptr, dv_ptr) = (
            SendPtr(dq.as_mut_ptr()),
            SendPtr(dk.as_mut_ptr()),
            SendPtr(dv.as_mut_ptr()),
        );
        let per_head = n.queries * n.keys;
        with_f32(q, |qd| {
            with_f32(k, |kd| {
                with_f32(v, |vd| {
                    with_f32(grad, |gd| {
                        probs.par_chunks(per_head).enumerate().for_each(|(i, p)| {
                            let (b, h) = (i / n.heads, i % n.heads);
                            let (qo, ko, vo, go) = (
                                qv.operand(qd, (b, h), n.queries, n.dim),
                                kv.operand(kd, (b, h), n.keys, n.dim),
                                vv.operand(vd, (b, h), n.keys, n.dim),
                                gv.operand(gd, (b, h), n.queries, n.dim),
                            );
                            let mask = (self.dropout > 0.0).then(|| {
                                let mut mask = vec![0f32; per_head];
                                fill_mask(self.seed, i, self.dropout, &mut mask);
                                mask
                            });
                            let weights = match &mask {
                                Some(m) => std::borrow::Cow::Owned(
                                    m.iter().zip(p).map(|(m, p)| m * p).collect::<Vec<_>>(),
                                ),
                                None => std::borrow::Cow::Borrowed(p),
                            };
                            let mut ds = vec![0f32; per_head];
                            // SAFETY: each head writes only its own blocks of dq, dk, dv and its
                            // own scratch; operands come from the tensors' layouts.
                            unsafe {
                                if need_v {
                                    let (start, row) = n.gradient_block(i, n.keys);
                                    matmul(
                                        dv_ptr.get().add(start),
                                        row,
                                        Operand::dense(&weights, n.queries, n.keys).t(),
                                        go,
                                        Product::SERIAL,
                                    );
                                }
                                if !(need_q || need_k) {
                                    return;
                                }
                                matmul(ds.as_mut_ptr(), n.keys, go, vo.t(), Product::SERIAL);
                            }
                            softmax_grad(&mut ds, p, mask.as_deref(), n.keys, self.scale);
                            let ds = Operand::dense(&ds, n.queries, n.keys);
                            unsafe {
                                if need_q {
                                    let (start, row) = n.gradient_block(i, n.queries);
                                    matmul(dq_ptr.get().add(start), row, ds, ko, Product::SERIAL);
                                }
                                if need_k {
                                    let (start, row) = n.gradient_block(i, n.keys);
                                    matmul(
                                        dk_ptr.get().add(start),
                                        row,
                                        ds.t(),
                                        qo,
                                        Product::SERIAL,
                                    );
                                }
                            }
                        });
                        Ok(())
                    })
                })
            })
        })?;
        let device = q.device();
        let (shape_q, shape_k) = (q.shape().clone(), k.shape().clone());
        let gradient = |needed: bool, data: Vec<f32>, shape: Shape| {
            needed
                .then(|| Tensor::from_vec(data, shape, device))
                .transpose()
        };
        Ok((
            gradient(need_q, dq, shape_q)?,
            gradient(need_k, dk, shape_k.clone())?,
            gradient(need_v, dv, shape_k)?,
        ))
    }
}
