//! RMS norm (T5) and layer norm (BERT family), fused forward with a backward pass.
use super::grad_attach::{with_input_grad, InputGrad};
use super::norm_grad::{norm_input_grad, NormKind};
use super::param::Param;
use super::at_least_f32;
use crate::models::weights::Weights;
use candle_core::{DType, Result, Tensor, D};

/// T5's norm: no mean subtraction, no bias; statistics in f32.
pub struct RmsNorm {
    weight: Param,
    eps: f64,
}

impl RmsNorm {
    pub fn load(weights: &Weights, name: &str, size: usize, eps: f64) -> crate::Result<Self> {
        let weight = Param::frozen(weights.get(&format!("{name}.weight"), &[size])?);
        Ok(Self { weight, eps })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let w = self.weight.tensor();
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
            RmsNormGrad { weight: w_for_grad, eps },
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
        if let Some(gx) = norm_input_grad(NormKind::Rms(self.eps), x, g, &self.weight)? {
            return Ok(gx);
        }
        let dtype = x.dtype();
        let x = at_least_f32(x)?;
        let gw = at_least_f32(&g.broadcast_mul(&self.weight)?)?;
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?.recip()?;
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
    pub fn load(weights: &Weights, name: &str, size: usize, eps: f64) -> crate::Result<Self> {
        let weight = Param::frozen(weights.get_any(
            &[&format!("{name}.weight"), &format!("{name}.gamma")],
            &[size],
        )?);
        let bias = Param::frozen(weights.get_any(
            &[&format!("{name}.bias"), &format!("{name}.beta")],
            &[size],
        )?);
        Ok(Self { weight, bias, eps })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.weight.tensor(), self.bias.tensor());
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
            LayerNormGrad { weight: w_for_grad, eps },
        )
    }
}

fn normalized(x: &Tensor, eps: f64) -> Result<(Tensor, Tensor)> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let r = (centered.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
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
        if let Some(gx) = norm_input_grad(NormKind::Layer(self.eps), x, g, &self.weight)? {
            return Ok(gx);
        }
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
    use candle_core::{Device, Var};

    #[test]
    fn fused_input_gradients_match_autograd() -> Result<()> {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f64, 2.0, (6, 37), &dev)? + 0.5)?;
        let g = Tensor::randn(0f64, 1.0, (6, 37), &dev)?;
        let w = Tensor::randn(1f64, 0.3, 37, &dev)?;
        let b = Tensor::randn(0f64, 0.3, 37, &dev)?;
        let eps = 1e-6;
        let f32s = |t: &Tensor| t.to_dtype(DType::F32);
        let cases: [(NormKind, Tensor); 2] = [
            (NormKind::Layer(eps), layer_norm_composed(&x, &w, &b, eps)?),
            (NormKind::Rms(eps), rms_norm_composed(&x, &w, eps)?),
        ];
        for (kind, _) in cases {
            let xv = Var::from_tensor(&x)?;
            let y = match kind {
                NormKind::Layer(_) => layer_norm_composed(xv.as_tensor(), &w, &b, eps)?,
                NormKind::Rms(_) => rms_norm_composed(xv.as_tensor(), &w, eps)?,
            };
            let want = (y * &g)?.sum_all()?.backward()?.get(&xv).expect("grad").to_dtype(DType::F32)?;
            let got = norm_input_grad(kind, &f32s(&x)?, &f32s(&g)?, &f32s(&w)?)?.expect("CPU f32");
            let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5 * scale.max(1.0), "max diff {diff}");
        }
        Ok(())
    }
}
