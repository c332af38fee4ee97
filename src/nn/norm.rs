//! RMS norm (T5) and layer norm (BERT family), fused forward with a backward pass.
use super::at_least_f32;
use super::cpu::norm::{norm_cpu, NormKind};
use super::grad_attach::{with_input_grad, InputGrad};
use super::param::Param;
use super::weights::Weights;
use candle_core::{DType, Result, Tensor, D};

/// T5's norm: no mean subtraction, no bias; statistics in f32.
pub struct RmsNorm {
    weight: Param,
    eps: f64,
}

impl RmsNorm {
    pub fn load(
        weights: &Weights,
        name: &str,
        size: usize,
        eps: f64,
    ) -> crate::error::Result<Self> {
        let weight = Param::frozen(weights.get(&format!("{name}.weight"), &[size])?);
        Ok(Self { weight, eps })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let w = self.weight.tensor();
        if let Some(ys) = norm_cpu(NormKind::Rms(self.eps), xs, None, &w, None)? {
            return Ok(ys);
        }
        if self.weight.is_trainable() {
            return rms_norm_composed(xs, &w, self.eps);
        }
        let eps = self.eps;
        let w_for_grad = w.clone();
        with_input_grad(
            xs,
            |x| match x.dtype() {
                DType::F64 => rms_norm_composed(x, &w, eps),
                _ => candle_nn::ops::rms_norm(&x.contiguous()?, &w, eps as f32),
            },
            RmsNormGrad {
                weight: w_for_grad,
                eps,
            },
        )
    }
}

fn rms_norm_composed(xs: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = xs.dtype();
    let x = at_least_f32(xs)?;
    let r = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&r)?.to_dtype(dtype)?.broadcast_mul(w)
}

struct RmsNormGrad {
    weight: Tensor,
    eps: f64,
}

impl InputGrad for RmsNormGrad {
    fn input_grad(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = at_least_f32(x)?;
        let gw = at_least_f32(&g.broadcast_mul(&self.weight)?)?;
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
            .sqrt()?
            .recip()?;
        let proj = (&gw * &x)?.mean_keepdim(D::Minus1)?;
        let r3 = r.powf(3.0)?;
        let gx = (gw.broadcast_mul(&r)? - x.broadcast_mul(&(proj * r3)?)?)?;
        gx.to_dtype(dtype)
    }
}

/// LayerNorm with weight and bias, as in BERT and DistilBERT.
pub struct LayerNorm {
    weight: Param,
    bias: Param,
    eps: f64,
}

impl LayerNorm {
    pub fn load(
        weights: &Weights,
        name: &str,
        size: usize,
        eps: f64,
    ) -> crate::error::Result<Self> {
        let weight = Param::frozen(weights.get_any(
            &[&format!("{name}.weight"), &format!("{name}.gamma")],
            &[size],
        )?);
        let bias = Param::frozen(
            weights.get_any(&[&format!("{name}.bias"), &format!("{name}.beta")], &[size])?,
        );
        Ok(Self { weight, bias, eps })
    }

    /// norm(xs + residual), as one op on the CPU.
    pub fn forward_residual(&self, xs: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.weight.tensor(), self.bias.tensor());
        match norm_cpu(NormKind::Layer(self.eps), xs, Some(residual), &w, Some(&b))? {
            Some(ys) => Ok(ys),
            None => self.forward(&(xs + residual)?),
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.weight.tensor(), self.bias.tensor());
        if let Some(ys) = norm_cpu(NormKind::Layer(self.eps), xs, None, &w, Some(&b))? {
            return Ok(ys);
        }
        if self.weight.is_trainable() || self.bias.is_trainable() {
            return layer_norm_composed(xs, &w, &b, self.eps);
        }
        let eps = self.eps;
        let w_for_grad = w.clone();
        with_input_grad(
            xs,
            |x| match x.dtype() {
                DType::F64 => layer_norm_composed(x, &w, &b, eps),
                _ => candle_nn::ops::layer_norm(&x.contiguous()?, &w, &b, eps as f32),
            },
            LayerNormGrad {
                weight: w_for_grad,
                eps,
            },
        )
    }
}

fn normalized(x: &Tensor, eps: f64) -> Result<(Tensor, Tensor)> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let r = (centered.sqr()?.mean_keepdim(D::Minus1)? + eps)?
        .sqrt()?
        .recip()?;
    Ok((centered.broadcast_mul(&r)?, r))
}

fn layer_norm_composed(xs: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = xs.dtype();
    let (xhat, _) = normalized(&at_least_f32(xs)?, eps)?;
    xhat.to_dtype(dtype)?.broadcast_mul(w)?.broadcast_add(b)
}

struct LayerNormGrad {
    weight: Tensor,
    eps: f64,
}

impl InputGrad for LayerNormGrad {
    fn input_grad(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (xhat, r) = normalized(&at_least_f32(x)?, self.eps)?;
        let gxhat = at_least_f32(&g.broadcast_mul(&self.weight)?)?;
        let mean_g = gxhat.mean_keepdim(D::Minus1)?;
        let mean_gx = (&gxhat * &xhat)?.mean_keepdim(D::Minus1)?;
        let inner = (gxhat.broadcast_sub(&mean_g)? - xhat.broadcast_mul(&mean_gx)?)?;
        inner.broadcast_mul(&r)?.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::Var;

    /// The fused CPU f32 norms (with and without a residual) against the composed f64 ones:
    /// outputs, and gradients of both inputs.
    #[test]
    fn fused_norms_match_autograd() -> Result<()> {
        let shape = (2, 5, 37);
        let x = (random_normal(shape, 0.0, 2.0, 1).to_dtype(candle_core::DType::F64)? + 0.5)?;
        let r = random_normal(shape, 0.0, 1.0, 2).to_dtype(candle_core::DType::F64)?;
        let g = random_normal(shape, 0.0, 1.0, 3).to_dtype(candle_core::DType::F64)?;
        let w = random_normal(37, 1.0, 0.3, 4).to_dtype(candle_core::DType::F64)?;
        let b = random_normal(37, 0.0, 0.3, 5).to_dtype(candle_core::DType::F64)?;
        let eps = 1e-6;
        let f32s = |t: &Tensor| t.to_dtype(DType::F32);
        let max_rel = |a: &Tensor, want: &Tensor| -> Result<f32> {
            let diff = max_abs_diff(&f32s(a)?, &f32s(want)?)?;
            Ok(diff
                / want
                    .abs()?
                    .max_all()?
                    .to_dtype(DType::F32)?
                    .to_scalar::<f32>()?
                    .max(1.0))
        };
        for kind in [NormKind::Layer(eps), NormKind::Rms(eps)] {
            for with_residual in [false, true] {
                let (xv, rv) = (Var::from_tensor(&x)?, Var::from_tensor(&r)?);
                let input = if with_residual {
                    (xv.as_tensor() + rv.as_tensor())?
                } else {
                    xv.as_tensor().clone()
                };
                let want = match kind {
                    NormKind::Layer(_) => layer_norm_composed(&input, &w, &b, eps)?,
                    NormKind::Rms(_) => rms_norm_composed(&input, &w, eps)?,
                };
                let want_grads = (&want * &g)?.sum_all()?.backward()?;
                let (xf, rf) = (Var::from_tensor(&f32s(&x)?)?, Var::from_tensor(&f32s(&r)?)?);
                let bias = f32s(&b)?;
                let bias = matches!(kind, NormKind::Layer(_)).then_some(&bias);
                let residual = with_residual.then_some(rf.as_tensor());
                let got =
                    norm_cpu(kind, xf.as_tensor(), residual, &f32s(&w)?, bias)?.expect("CPU f32");
                assert!(
                    max_rel(&got, &want)? < 1e-5,
                    "{kind:?} residual {with_residual}: output"
                );
                let got_grads = (&got * &f32s(&g)?)?.sum_all()?.backward()?;
                let gx = got_grads.get(&xf).expect("x gradient");
                assert!(
                    max_rel(gx, want_grads.get(&xv).expect("grad"))? < 1e-5,
                    "{kind:?} residual {with_residual}: x gradient"
                );
                if with_residual {
                    let gr = got_grads.get(&rf).expect("residual gradient");
                    assert!(
                        max_rel(gr, want_grads.get(&rv).expect("grad"))? < 1e-5,
                        "{kind:?}: residual gradient"
                    );
                }
            }
        }
        Ok(())
    }
}
