//! `x · Wᵀ` for a frozen `W`: the backward pass returns only the input's gradient.
//!
//! candle's own matmul backward also computes the gradient of the weight, which a frozen
//! weight never uses; for LoRA training that is about a third of the backward work.
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

struct FrozenMatmul;

fn forward<S: BackendStorage>(x: &S, lx: &Layout, w: &S, lw: &Layout) -> Result<(S, Shape)> {
    let x_dims = lx.dims();
    let (n, k) = lw.shape().dims2()?;
    let in_features = *x_dims.last().unwrap_or(&0);
    if in_features != k || !lx.is_contiguous() || !lw.is_contiguous() {
        candle_core::bail!("frozen matmul: input {:?} vs weight {:?}", lx.shape(), lw.shape());
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

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, w: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        if let (CpuStorage::F32(xs), CpuStorage::F32(ws)) = (x, w) {
            let (n, k) = lw.shape().dims2()?;
            let x_dims = lx.dims();
            let m = lx.shape().elem_count() / k.max(1);
            if m <= super::skinny::MAX_ROWS && x_dims.last() == Some(&k) && lx.is_contiguous() && lw.is_contiguous() {
                // a few rows (a decoding step): read the weight in place
                let out = super::skinny::matmul_t(&xs[lx.start_offset()..], m, k, &ws[lw.start_offset()..], n);
                let mut dims = x_dims.to_vec();
                *dims.last_mut().unwrap_or(&mut 0) = n;
                return Ok((CpuStorage::F32(out), Shape::from(dims)));
            }
        }
        forward(x, lx, w, lw)
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

    fn bwd(&self, x: &Tensor, w: &Tensor, _: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = w.dim(0)?;
        let m = grad.elem_count() / n;
        let grad_x = grad.reshape((m, n))?.matmul(w)?.reshape(x.shape())?;
        Ok((Some(grad_x), None))
    }
}

/// `x · wᵀ` where `w` (out × in) receives no gradient.
pub fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, FrozenMatmul)
}
