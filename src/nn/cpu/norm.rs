//! Layer norm and RMS norm on the CPU in f32, optionally of a residual sum `x + residual`, as one
//! op with its own backward pass (frozen weight and bias: only the inputs get gradients).
//!
//! Each row's statistics (mean and 1/σ) are kept from the forward pass; the backward pass
//! recomputes the normalized row from the inputs. Compared with a residual add followed by
//! candle's norm kernel and a separately attached gradient, this saves the add's pass and graph
//! node, the copy that re-attaches a detached kernel's output, and runs the gradient vectorised.
use super::saved::Saved;
use super::simd::simd_dispatch;
use super::{all_cpu_f32, with_f32, with_optional_f32};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Which norm, and its ε.
#[derive(Clone, Copy, Debug)]
pub enum NormKind {
    /// (x − mean)/σ · w + b
    Layer(f64),
    /// x/rms · w
    Rms(f64),
}

impl NormKind {
    fn centred(self) -> bool {
        matches!(self, NormKind::Layer(_))
    }

    fn eps(self) -> f32 {
        match self {
            NormKind::Layer(eps) | NormKind::Rms(eps) => eps as f32,
        }
    }
}

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

struct FusedNorm {
    kind: NormKind,
    weight: Tensor,
    bias: Option<Tensor>,
    /// Whether a backward pass will follow (the statistics are kept for it).
    save: bool,
    /// (mean, 1/σ) of every row.
    stats: Saved<Vec<[f32; 2]>>,
}

/// A contiguous f32 view of a tensor's elements.
fn slice<'a>(data: &'a [f32], layout: &Layout) -> Result<&'a [f32]> {
    if !layout.is_contiguous() {
        candle_core::bail!("fused norm: non-contiguous input");
    }
    Ok(&data[layout.start_offset()..][..layout.shape().elem_count()])
}

/// [`slice`] of an optional tensor.
fn with_optional_slice<R>(
    t: Option<&Tensor>,
    f: impl FnOnce(Option<&[f32]>) -> Result<R>,
) -> Result<R> {
    with_optional_f32(t, |data| match (data, t) {
        (Some(data), Some(t)) => f(Some(slice(data, t.layout())?)),
        _ => f(None),
    })
}

simd_dispatch! {
    /// Normalizes rows of `x` (+ `residual`) into `out`, returning each row's statistics.
    fn forward_rows(kind: NormKind, x: &[f32], residual: Option<&[f32]>, w: &[f32], b: Option<&[f32]>, out: &mut [f32], stats: &mut [[f32; 2]]) = forward_rows_generic
}

#[inline(always)]
fn forward_rows_generic(
    kind: NormKind,
    x: &[f32],
    residual: Option<&[f32]>,
    w: &[f32],
    b: Option<&[f32]>,
    out: &mut [f32],
    stats: &mut [[f32; 2]],
) {
    let hidden = w.len();
    let n = hidden as f32;
    for (row, (o, stat)) in out
        .chunks_exact_mut(hidden)
        .zip(stats.iter_mut())
        .enumerate()
    {
        let xr = &x[row * hidden..][..hidden];
        match residual {
            Some(r) => o
                .iter_mut()
                .zip(xr)
                .zip(&r[row * hidden..][..hidden])
                .for_each(|((o, x), r)| *o = x + r),
            None => o.copy_from_slice(xr),
        }
        let mean = if kind.centred() {
            lane_sum(o, |v| v) / n
        } else {
            0.0
        };
        let rstd = 1.0 / (lane_sum(o, |v| (v - mean) * (v - mean)) / n + kind.eps()).sqrt();
        match b {
            Some(b) => o
                .iter_mut()
                .zip(w)
                .zip(b)
                .for_each(|((o, w), b)| *o = (*o - mean) * rstd * w + b),
            None => o
                .iter_mut()
                .zip(w)
                .for_each(|(o, w)| *o = (*o - mean) * rstd * w),
        }
        *stat = [mean, rstd];
    }
}

simd_dispatch! {
    /// ∂loss/∂input of rows, from the inputs, the output gradient `g` and the saved statistics.
    fn backward_rows(kind: NormKind, x: &[f32], residual: Option<&[f32]>, g: &[f32], w: &[f32], stats: &[[f32; 2]], dx: &mut [f32]) = backward_rows_generic
}

#[inline(always)]
fn backward_rows_generic(
    kind: NormKind,
    x: &[f32],
    residual: Option<&[f32]>,
    g: &[f32],
    w: &[f32],
    stats: &[[f32; 2]],
    dx: &mut [f32],
) {
    let hidden = w.len();
    let n = hidden as f32;
    for (row, (d, &[mean, rstd])) in dx.chunks_exact_mut(hidden).zip(stats).enumerate() {
        let range = row * hidden..(row + 1) * hidden;
        // d holds x̂ first, then the gradient
        match residual {
            Some(r) => d
                .iter_mut()
                .zip(&x[range.clone()])
                .zip(&r[range.clone()])
                .for_each(|((d, x), r)| *d = (x + r - mean) * rstd),
            None => d
                .iter_mut()
                .zip(&x[range.clone()])
                .for_each(|(d, x)| *d = (x - mean) * rstd),
        }
        let gr = &g[range];
        let (mut sum_g, mut sum_gx) = ([0f32; 16], [0f32; 16]);
        for ((d, g), w) in d.chunks(16).zip(gr.chunks(16)).zip(w.chunks(16)) {
            for i in 0..d.len() {
                let gw = g[i] * w[i];
                sum_g[i] += gw;
                sum_gx[i] += gw * d[i];
            }
        }
        let mean_g = if kind.centred() {
            sum_g.iter().sum::<f32>() / n
        } else {
            0.0
        };
        let mean_gx = sum_gx.iter().sum::<f32>() / n;
        d.iter_mut()
            .zip(gr)
            .zip(w)
            .for_each(|((d, g), w)| *d = rstd * (g * w - mean_g - *d * mean_gx));
    }
}

/// Σ f(v) with sixteen independent partial sums (vectorisable).
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    for chunk in values.chunks(16) {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += f(*v);
        }
    }
    lanes.iter().sum()
}

impl FusedNorm {
    fn forward(
        &self,
        x: &[f32],
        xl: &Layout,
        residual: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let hidden = self.weight.elem_count();
        let rows = xl.shape().elem_count() / hidden.max(1);
        let mut out = vec![0f32; rows * hidden];
        let mut stats = vec![[0f32; 2]; rows];
        with_f32(&self.weight, |wd| {
            let w = slice(wd, self.weight.layout())?;
            with_optional_slice(self.bias.as_ref(), |b| {
                out.par_chunks_mut(ROWS_PER_TASK * hidden)
                    .zip(stats.par_chunks_mut(ROWS_PER_TASK))
                    .enumerate()
                    .for_each(|(task, (o, s))| {
                        let start = task * ROWS_PER_TASK * hidden;
                        let end = start + o.len();
                        forward_rows(
                            self.kind,
                            &x[start..end],
                            residual.map(|r| &r[start..end]),
                            w,
                            b,
                            o,
                            s,
                        );
                    });
                Ok(())
            })
        })?;
        if self.save {
            self.stats.keep(stats)?;
        }
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    /// The inputs' gradient (the same for `x` and the residual).
    fn backward(&self, x: &Tensor, residual: Option<&Tensor>, grad: &Tensor) -> Result<Tensor> {
        let stats = self.stats.take()?;
        let grad = grad.contiguous()?;
        let hidden = self.weight.elem_count();
        let mut dx = vec![0f32; x.elem_count()];
        with_f32(x, |xd| {
            with_optional_slice(residual, |rs| {
                with_f32(&grad, |gd| {
                    with_f32(&self.weight, |wd| {
                        let (xs, gs, w) = (
                            slice(xd, x.layout())?,
                            slice(gd, grad.layout())?,
                            slice(wd, self.weight.layout())?,
                        );
                        dx.par_chunks_mut(ROWS_PER_TASK * hidden)
                            .zip(stats.par_chunks(ROWS_PER_TASK))
                            .enumerate()
                            .for_each(|(task, (d, s))| {
                                let rows = task * ROWS_PER_TASK * hidden
                                    ..task * ROWS_PER_TASK * hidden + d.len();
                                let r = rs.map(|r| &r[rows.clone()]);
                                backward_rows(self.kind, &xs[rows.clone()], r, &gs[rows], w, s, d);
                            });
                        Ok(())
                    })
                })
            })
        })?;
        Tensor::from_vec(dx, x.shape(), x.device())
    }
}

impl CustomOp1 for FusedNorm {
    fn name(&self) -> &'static str {
        "fused-norm"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(slice(xs.as_slice::<f32>()?, xl)?, xl, None)
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.backward(x, None, grad)?))
    }
}

impl CustomOp2 for FusedNorm {
    fn name(&self) -> &'static str {
        "fused-add-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        rs: &CpuStorage,
        rl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if xl.shape() != rl.shape() {
            candle_core::bail!(
                "fused norm: input {:?} and residual {:?}",
                xl.shape(),
                rl.shape()
            );
        }
        self.forward(
            slice(xs.as_slice::<f32>()?, xl)?,
            xl,
            Some(slice(rs.as_slice::<f32>()?, rl)?),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        residual: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = self.backward(x, Some(residual), grad)?;
        Ok((
            x.track_op().then(|| dx.clone()),
            residual.track_op().then_some(dx),
        ))
    }
}

/// `kind`-norm of `x + residual` (or of `x`) with a frozen `weight` (and `bias`) over the last
/// dimension, for CPU f32 tensors; `None` when they do not qualify.
pub fn norm_cpu(
    kind: NormKind,
    x: &Tensor,
    residual: Option<&Tensor>,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let mut tensors = vec![x, weight];
    tensors.extend(residual);
    tensors.extend(bias);
    if !all_cpu_f32(&tensors)
        || weight.track_op()
        || bias.is_some_and(Tensor::track_op)
        || x.dims().last() != Some(&weight.elem_count())
    {
        return Ok(None);
    }
    let with_gradient = x.track_op() || residual.is_some_and(Tensor::track_op);
    let op = FusedNorm {
        kind,
        weight: weight.contiguous()?,
        bias: bias.map(Tensor::contiguous).transpose()?,
        save: with_gradient,
        stats: Saved::new("norm"),
    };
    let x = x.contiguous()?;
    Ok(Some(match (residual, with_gradient) {
        (Some(r), true) => x.apply_op2(&r.contiguous()?, op)?,
        (Some(r), false) => x.apply_op2_no_bwd(&r.contiguous()?, &op)?,
        (None, true) => x.apply_op1(op)?,
        (None, false) => x.apply_op1_no_bwd(&op)?,
    }))
}
