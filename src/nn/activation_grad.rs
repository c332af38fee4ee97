//! Activations on the CPU in f32 as one parallel kernel each way: candle's erf GELU runs
//! single-threaded through libm, and its backward is a chain of elementwise ops.
use super::cpu_f32::{activate_all, activation_backward, all_cpu_f32, with_f32, FastActivation};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

struct Activate(FastActivation);

impl CustomOp1 for Activate {
    fn name(&self) -> &'static str {
        "fused-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = layout.shape().elem_count();
        let xs = &storage.as_slice::<f32>()?[layout.start_offset()..][..n];
        Ok((
            CpuStorage::F32(activate_all(self.0, xs)),
            layout.shape().clone(),
        ))
    }

    fn bwd(&self, xs: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let n = xs.elem_count();
        let out = with_f32(xs, |x| {
            with_f32(&grad, |g| {
                let x = &x[xs.layout().start_offset()..][..n];
                let g = &g[grad.layout().start_offset()..][..n];
                Ok(activation_backward(self.0, x, g))
            })
        })?;
        Ok(Some(Tensor::from_vec(out, xs.shape(), xs.device())?))
    }
}

/// `kind(xs)` with a gradient, or `None` when `xs` is not a CPU f32 tensor.
pub fn activate(kind: FastActivation, xs: &Tensor) -> Result<Option<Tensor>> {
    if !all_cpu_f32(&[xs]) {
        return Ok(None);
    }
    Ok(Some(xs.contiguous()?.apply_op1(Activate(kind))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn values_and_gradients_match_candle() -> Result<()> {
        let x = Var::from_tensor(&(Tensor::randn(0f32, 3.0, (4, 5000), &Device::Cpu)?))?;
        let weights = Tensor::randn(0f32, 1.0, (4, 5000), &Device::Cpu)?;
        type Reference = fn(&Tensor) -> Result<Tensor>;
        let cases: [(FastActivation, Reference); 3] = [
            (FastActivation::Gelu, |x| x.gelu_erf()),
            (FastActivation::GeluTanh, |x| x.gelu()),
            (FastActivation::Silu, |x| x.silu()),
        ];
        for (kind, reference) in cases {
            let fast = activate(kind, &x)?.expect("qualifies");
            let slow = reference(&x)?;
            let diff = (&fast - &slow)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 2e-6, "{kind:?} value: {diff}");
            let g1 = (fast * &weights)?.sum_all()?.backward()?;
            let g2 = (slow * &weights)?.sum_all()?.backward()?;
            let (g1, g2) = (g1.get(&x).expect("grad"), g2.get(&x).expect("grad"));
            let diff = (g1 - g2)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 2e-5, "{kind:?} gradient: {diff}");
        }
        Ok(())
    }
}
