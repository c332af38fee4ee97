//! softmax(scale·q·kᵀ + bias), dropout, ·v on the CPU in f32, fused per (sequence, head) and run
//! in parallel over them, with its own backward pass: two single-threaded gemm calls per head with
//! the bias, softmax and dropout applied in between, while the scores are in cache. Training uses
//! it, and so does inference over several queries (keeping nothing for a backward pass).
//!
//! The softmax probabilities are the only saved activation; the dropout mask is regenerated in the
//! backward pass from a per-head seed. No score, bias-sum, mask or dropout tensor enters candle's
//! graph (which would keep five tensors of batch·heads·queries·keys floats per layer alive and
//! spend most of a step on single-threaded elementwise work).
use super::rows::{add_row, softmax_grad};
use super::strided::Strided;
use super::{AttentionInputs, Heads};
use crate::nn::cpu::dropout::fill_mask;
use crate::nn::cpu::gemm::{matmul, Operand, Product};
use crate::nn::cpu::saved::Saved;
use crate::nn::cpu::softmax::softmax_in_place;
use crate::nn::cpu::{with_f32, with_optional_f32, SendPtr};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

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
        seed: if dropout > 0.0 { rand::random() } else { 0 },
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

/// One head's inputs: its (batch, head) index, its q, k and v, and its bias.
struct HeadInputs<'a> {
    index: usize,
    q: Operand,
    k: Operand,
    v: Operand,
    bias: Option<(&'a [f32], &'a Strided)>,
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

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    /// Output laid out (batch, queries, heads, dim): heads merged by a free reshape.
    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
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

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::attention::{self as dispatcher, reference, Kernel};
    use candle_core::backprop::GradStore;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let scale = b
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1e-6);
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            / scale
    }

    /// Projections q, k, v attended without dropout.
    fn projected<'a>(
        q: &'a Tensor,
        k: &'a Tensor,
        v: &'a Tensor,
        heads: usize,
        bias: Option<&'a Tensor>,
        scale: f64,
    ) -> AttentionInputs<'a> {
        AttentionInputs {
            q,
            k,
            v,
            heads: Heads::Projected(heads),
            bias,
            scale,
            dropout: 0.0,
            train: false,
        }
    }

    /// The attention through this kernel (checked to qualify).
    fn through_kernel(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        heads: usize,
        bias: Option<&Tensor>,
        scale: f64,
    ) -> Result<Tensor> {
        let inputs = projected(q, k, v, heads, bias, scale);
        let kernel = Kernel::choose(&inputs)?;
        assert!(matches!(kernel, Some(Kernel::Fused { .. })), "qualifies");
        dispatcher::attend(&inputs)
    }

    /// The same attention as a chain of candle ops.
    fn graph(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        heads: usize,
        bias: Option<&Tensor>,
        scale: f64,
    ) -> Result<Tensor> {
        reference::attend(&projected(q, k, v, heads, bias, scale))
    }

    /// Checks the fused output against the graph's and returns both sides' gradients of
    /// Σ output·weights.
    fn gradients(fast: Tensor, slow: Tensor, weights: &Tensor) -> Result<(GradStore, GradStore)> {
        assert!(
            max_diff(&fast, &slow) < 1e-5,
            "forward: {}",
            max_diff(&fast, &slow)
        );
        Ok((
            (fast * weights)?.sum_all()?.backward()?,
            (slow * weights)?.sum_all()?.backward()?,
        ))
    }

    /// q, k, v as (batch, time, heads·dim) projections, as the models pass them.
    fn heads(b: usize, t: usize, h: usize, d: usize) -> Var {
        Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, h * d), &Device::Cpu).unwrap()).unwrap()
    }

    #[test]
    fn forward_and_gradients_match_the_graph_version() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, d) = (2, 3, 8);
        for (tq, tk) in [(5, 5), (4, 7)] {
            let mut pad = vec![0f32; b * tk];
            pad[tk - 1] = f32::MIN;
            let pad = Tensor::from_vec(pad, (b, 1, 1, tk), &dev)?;
            let pos = Tensor::randn(0f32, 1.0, (1, h, tq, tk), &dev)?;
            for (bias, scale) in [(None, 1.0), (Some(&pad), 0.35), (Some(&pos), 1.0)] {
                let (qv, kv, vv) = (heads(b, tq, h, d), heads(b, tk, h, d), heads(b, tk, h, d));
                let weights = Tensor::randn(0f32, 1.0, (b, tq, h * d), &dev)?;
                let fast = through_kernel(&qv, &kv, &vv, h, bias, scale)?;
                let slow = graph(&qv, &kv, &vv, h, bias, scale)?;
                let (fast_grads, slow_grads) = gradients(fast, slow, &weights)?;
                for x in [&qv, &kv, &vv] {
                    let (g1, g2) = (
                        fast_grads.get(x).expect("grad"),
                        slow_grads.get(x).expect("grad"),
                    );
                    assert!(
                        max_diff(g1, g2) < 1e-5,
                        "gradient {tq}x{tk}: {}",
                        max_diff(g1, g2)
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn strided_projections_read_in_place() -> Result<()> {
        // q, k, v as column slices of one (batch, time, 3·heads·dim) projection
        let dev = Device::Cpu;
        let (b, t, h, d) = (2, 6, 2, 4);
        let qkv = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, 3 * h * d), &dev)?)?;
        let part = |i: usize| qkv.narrow(2, i * h * d, h * d).unwrap();
        let weights = Tensor::randn(0f32, 1.0, (b, t, h * d), &dev)?;
        let fast = through_kernel(&part(0), &part(1), &part(2), h, None, 0.5)?;
        let slow = graph(&part(0), &part(1), &part(2), h, None, 0.5)?;
        let (fast_grads, slow_grads) = gradients(fast, slow, &weights)?;
        let (g1, g2) = (
            fast_grads.get(&qkv).expect("grad"),
            slow_grads.get(&qkv).expect("grad"),
        );
        assert!(max_diff(g1, g2) < 1e-5, "gradient {}", max_diff(g1, g2));
        Ok(())
    }

    #[test]
    fn inputs_off_the_graph_get_no_gradient_and_the_others_stay_exact() -> Result<()> {
        let dev = Device::Cpu;
        let (b, t, h, d) = (2, 5, 3, 8);
        let weights = Tensor::randn(0f32, 1.0, (b, t, h * d), &dev)?;
        for tracked in [
            [true, false, false],
            [false, true, true],
            [false, false, true],
        ] {
            let vars: Vec<Var> = (0..3).map(|_| heads(b, t, h, d)).collect();
            let inputs: Vec<Tensor> = vars
                .iter()
                .zip(tracked)
                .map(|(v, on)| {
                    if on {
                        v.as_tensor().clone()
                    } else {
                        v.as_tensor().detach()
                    }
                })
                .collect();
            let fast = through_kernel(&inputs[0], &inputs[1], &inputs[2], h, None, 0.35)?;
            let slow = graph(&inputs[0], &inputs[1], &inputs[2], h, None, 0.35)?;
            let (fast_grads, slow_grads) = gradients(fast, slow, &weights)?;
            for (var, on) in vars.iter().zip(tracked) {
                assert_eq!(fast_grads.get(var).is_some(), on);
                if on {
                    assert!(
                        max_diff(
                            fast_grads.get(var).expect("grad"),
                            slow_grads.get(var).expect("grad")
                        ) < 1e-5
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn dropout_gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, t, d) = (1, 2, 6, 4);
        let q = Tensor::randn(0f64, 1.0, (b, h, t, d), &dev)?.to_dtype(candle_core::DType::F32)?;
        let k = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev)?;
        let v = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev)?;
        let weights = Tensor::randn(0f32, 1.0, (b, t, h, d), &dev)?;
        let op = |save| FusedAttention {
            heads: h,
            bias: None,
            scale: 0.5,
            dropout: 0.3,
            seed: 42,
            save,
            probs: Saved::new("attention"),
        };
        let objective = |q: &Tensor| -> Result<f64> {
            q.apply_op3(&k, &v, op(false))?
                .mul(&weights)?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()
        };
        let qv = Var::from_tensor(&q)?;
        let out = qv.as_tensor().apply_op3(&k, &v, op(true))?;
        let zeros = out
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .filter(|x| **x == 0.0)
            .count();
        assert!(zeros == 0, "dropout applies to probabilities, not outputs");
        let grads = (out * &weights)?.sum_all()?.backward()?;
        let analytic = grads
            .get(&qv)
            .expect("grad")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let base = q.flatten_all()?.to_vec1::<f32>()?;
        for (i, want) in analytic.iter().enumerate().step_by(5) {
            let eps = 1e-2f32;
            let shifted = |delta: f32| -> Result<f64> {
                let mut x = base.clone();
                x[i] += delta;
                objective(&Tensor::from_vec(x, q.shape(), &dev)?)
            };
            let numeric = (shifted(eps)? - shifted(-eps)?) / (2.0 * eps as f64);
            assert!(
                (numeric - *want as f64).abs() < 2e-3 * (1.0 + numeric.abs()),
                "element {i}: {numeric} vs {want}"
            );
        }
        Ok(())
    }
}
