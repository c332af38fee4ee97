//! `x · Wᵀ (+ b)` for a frozen `W` (and frozen `b`): the backward pass returns only the input's
//! gradient.
//!
//! candle's own matmul backward also computes the gradient of the weight, which a frozen
//! weight never uses; for LoRA training that is about a third of the backward work. On the CPU
//! the bias is added in place in the same op (a broadcast add would cost a pass and a graph node
//! each way).
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

struct FrozenMatmul {
    /// Added to every row on the CPU (f32).
    bias: Option<Tensor>,
}

fn forward<S: BackendStorage>(x: &S, lx: &Layout, w: &S, lw: &Layout) -> Result<(S, Shape)> {
    let x_dims = lx.dims();
    let (n, k) = lw.shape().dims2()?;
    let in_features = *x_dims.last().unwrap_or(&0);
    if in_features != k || !lx.is_contiguous() || !lw.is_contiguous() {
        candle_core::bail!(
            "frozen matmul: input {:?} vs weight {:?}",
            lx.shape(),
            lw.shape()
        );
    }
    let m = lx.shape().elem_count() / k;
    let lhs = Layout::contiguous_with_offset((m, k), lx.start_offset());
    let rhs = Layout::contiguous_with_offset((n, k), lw.start_offset()).transpose(0, 1)?;
    let out = x.matmul(w, (1, m, n, k), &lhs, &rhs)?;
    let mut dims = x_dims.to_vec();
    *dims.last_mut().unwrap_or(&mut 0) = n;
    Ok((out, Shape::from(dims)))
}

impl CustomOp2 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if let (CpuStorage::F32(xs), CpuStorage::F32(ws)) = (x, w) {
            let (n, k) = lw.shape().dims2()?;
            let x_dims = lx.dims();
            let m = lx.shape().elem_count() / k.max(1);
            if m <= super::skinny::MAX_ROWS
                && x_dims.last() == Some(&k)
                && lx.is_contiguous()
                && lw.is_contiguous()
            {
                // a few rows (a decoding step): read the weight in place
                let mut out = super::skinny::matmul_t(
                    &xs[lx.start_offset()..],
                    m,
                    k,
                    &ws[lw.start_offset()..],
                    n,
                );
                self.add_bias(&mut out, n)?;
                let mut dims = x_dims.to_vec();
                *dims.last_mut().unwrap_or(&mut 0) = n;
                return Ok((CpuStorage::F32(out), Shape::from(dims)));
            }
        }
        let (mut out, shape) = forward(x, lx, w, lw)?;
        if let CpuStorage::F32(values) = &mut out {
            self.add_bias(values, lw.dims()[0])?;
        } else if self.bias.is_some() {
            candle_core::bail!("frozen matmul: a fused bias needs f32");
        }
        Ok((out, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        lx: &Layout,
        w: &candle_core::CudaStorage,
        lw: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        forward(x, lx, w, lw)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = w.dim(0)?;
        let m = grad.elem_count() / n;
        let grad_x = grad.reshape((m, n))?.matmul(w)?.reshape(x.shape())?;
        Ok((Some(grad_x), None))
    }
}

impl FrozenMatmul {
    fn add_bias(&self, out: &mut [f32], n: usize) -> Result<()> {
        use rayon::prelude::*;
        if let Some(bias) = &self.bias {
            super::with_f32(bias, |b| {
                let b = &b[bias.layout().start_offset()..][..n];
                out.par_chunks_mut(n)
                    .for_each(|row| row.iter_mut().zip(b).for_each(|(y, b)| *y += b));
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// `x · wᵀ (+ bias)` where `w` (out × in) and `bias` (out) receive no gradient.
pub fn frozen_matmul(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match bias {
        Some(b) if super::all_cpu_f32(&[&x, &w, b]) && !b.track_op() => x.apply_op2(
            &w,
            FrozenMatmul {
                bias: Some(b.contiguous()?),
            },
        ),
        Some(b) => x
            .apply_op2(&w, FrozenMatmul { bias: None })?
            .broadcast_add(b),
        None => x.apply_op2(&w, FrozenMatmul { bias: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{check, max_abs_diff, random, random_normal};
    use candle_core::{DType, Var};

    #[test]
    fn frozen_matmul_backward_and_no_weight_gradient() {
        let w = random(&[4, 5], 3);
        check(|x| frozen_matmul(x, &w, None), &[2, 3, 5]);
    }

    #[test]
    fn frozen_matmul_matches_plain_matmul() {
        let x = random(&[2, 3, 5], 4).to_dtype(DType::F32).unwrap();
        let w = random(&[4, 5], 5).to_dtype(DType::F32).unwrap();
        let ours = frozen_matmul(&x, &w, None).unwrap();
        let plain = x.broadcast_matmul(&w.t().unwrap()).unwrap();
        let diff = max_abs_diff(&ours, &plain).unwrap();
        assert!(diff < 1e-6);
    }

    #[test]
    fn fused_bias_matches_a_broadcast_add() -> Result<()> {
        let w = random_normal((7, 5), 0.0, 1.0, 1);
        let b = random_normal(7, 0.0, 1.0, 2);
        for rows in [2, 40] {
            let x = Var::from_tensor(&random_normal((rows, 3, 5), 0.0, 1.0, 3))?;
            let fused = frozen_matmul(&x, &w, Some(&b))?;
            let plain = x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?;
            let diff = max_abs_diff(&fused, &plain)?;
            assert!(diff < 1e-5, "{rows} rows: {diff}");
            let g = random_normal(fused.shape(), 0.0, 1.0, 4);
            let g1 = (fused * &g)?.sum_all()?.backward()?;
            let g2 = (plain * &g)?.sum_all()?.backward()?;
            let diff = max_abs_diff(g1.get(&x).expect("grad"), g2.get(&x).expect("grad"))?;
            assert!(diff < 1e-5, "{rows} rows, gradient: {diff}");
        }
        Ok(())
    }
}
