//! Activations on the CPU in f32 as one parallel kernel each way: candle's erf GELU runs
//! single-threaded through libm, and its backward is a chain of elementwise ops.
use super::activation_formulas::{activate_slice, backward_slice, FastActivation};
use super::data::{all_cpu_f32, with_f32};
use super::simd::simd_dispatch;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

simd_dispatch! {
    /// act(x) (· gate) into `out` with the widest instructions available.
    fn activate_chunk(kind: FastActivation, x: &[f32], gate: Option<&[f32]>, out: &mut [f32]) = activate_slice
}

simd_dispatch! {
    /// grad · act'(x) into `out` with the widest instructions available.
    fn backward_chunk(kind: FastActivation, x: &[f32], grad: &[f32], out: &mut [f32]) = backward_slice
}

/// `f` over parallel chunks of `out` and the matching chunks of `xs` and `other`.
fn par_chunks(
    xs: &[f32],
    other: Option<&[f32]>,
    out: &mut [f32],
    f: impl Fn(&[f32], Option<&[f32]>, &mut [f32]) + Sync,
) {
    const CHUNK: usize = 16 * 1024;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
        let range = c * CHUNK..c * CHUNK + o.len();
        f(&xs[range.clone()], other.map(|g| &g[range]), o)
    });
}

/// act(x) for a contiguous slice, in parallel.
fn activate_all(kind: FastActivation, xs: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    par_chunks(xs, None, &mut out, |x, _, o| {
        activate_chunk(kind, x, None, o)
    });
    out
}

/// grad · act'(x) for contiguous slices of the same length, in parallel.
fn activation_backward(kind: FastActivation, xs: &[f32], grad: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    par_chunks(xs, Some(grad), &mut out, |x, g, o| {
        backward_chunk(kind, x, g.unwrap_or_default(), o)
    });
    out
}

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
pub fn with_gradient(kind: FastActivation, xs: &Tensor) -> Result<Option<Tensor>> {
    if !all_cpu_f32(&[xs]) {
        return Ok(None);
    }
    Ok(Some(xs.contiguous()?.apply_op1(Activate(kind))?))
}

/// `kind(xs)`, or `kind(xs) · gate` (a gated feed-forward) in the same pass, for contiguous CPU
/// f32 tensors of the same shape; `None` when the tensors do not qualify. No gradient.
pub fn without_gradient(
    kind: FastActivation,
    xs: &Tensor,
    gate: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let mut inputs = vec![xs];
    inputs.extend(gate);
    if !all_cpu_f32(&inputs)
        || !inputs
            .iter()
            .all(|t| t.is_contiguous() && t.shape() == xs.shape())
    {
        return Ok(None);
    }
    let n = xs.elem_count();
    let mut out = vec![0f32; n];
    let run = |x: &[f32], g: Option<&[f32]>, out: &mut Vec<f32>| {
        par_chunks(x, g, out, |x, g, o| activate_chunk(kind, x, g, o))
    };
    with_f32(xs, |x| {
        let x = &x[xs.layout().start_offset()..][..n];
        match gate {
            Some(gt) => with_f32(gt, |g| {
                run(x, Some(&g[gt.layout().start_offset()..][..n]), &mut out);
                Ok(())
            }),
            None => {
                run(x, None, &mut out);
                Ok(())
            }
        }
    })?;
    Ok(Some(Tensor::from_vec(out, xs.shape(), xs.device())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::Var;

    #[test]
    fn activations_match_candle() -> Result<()> {
        let x = (random_normal((3, 1000), 0.0, 3.0, 1) * 1.0)?;
        let g = random_normal((3, 1000), 0.0, 1.0, 2);
        for (kind, want) in [
            (FastActivation::GeluTanh, x.gelu()?),
            (FastActivation::Silu, x.silu()?),
        ] {
            let got = without_gradient(kind, &x, None)?.expect("qualifies");
            let diff = max_abs_diff(&got, &want)?;
            assert!(diff < 1e-5, "{kind:?}: {diff}");
            let gated = without_gradient(kind, &x, Some(&g))?.expect("qualifies");
            let diff = max_abs_diff(&gated, &(want * &g)?)?;
            assert!(diff < 1e-5, "{kind:?} gated: {diff}");
        }
        Ok(())
    }

    #[test]
    fn values_and_gradients_match_candle() -> Result<()> {
        let x = Var::from_tensor(&(random_normal((4, 5000), 0.0, 3.0, 3)))?;
        let weights = random_normal((4, 5000), 0.0, 1.0, 4);
        type Reference = fn(&Tensor) -> Result<Tensor>;
        let cases: [(FastActivation, Reference); 3] = [
            (FastActivation::Gelu, |x| x.gelu_erf()),
            (FastActivation::GeluTanh, |x| x.gelu()),
            (FastActivation::Silu, |x| x.silu()),
        ];
        for (kind, reference) in cases {
            let fast = with_gradient(kind, &x)?.expect("qualifies");
            let slow = reference(&x)?;
            let diff = max_abs_diff(&fast, &slow)?;
            assert!(diff < 2e-6, "{kind:?} value: {diff}");
            let g1 = (fast * &weights)?.sum_all()?.backward()?;
            let g2 = (slow * &weights)?.sum_all()?.backward()?;
            let (g1, g2) = (g1.get(&x).expect("grad"), g2.get(&x).expect("grad"));
            let diff = max_abs_diff(g1, g2)?;
            assert!(diff < 2e-5, "{kind:?} gradient: {diff}");
        }
        Ok(())
    }
}
