//! Dropout, active in training only; on the CPU in f32 a fused kernel (`cpu/dropout.rs`).
use super::cpu;
use candle_core::{Result, Tensor};

pub fn dropout(xs: &Tensor, p: f64, train: bool) -> Result<Tensor> {
    if !train || p <= 0.0 {
        return Ok(xs.clone());
    }
    if cpu::all_cpu_f32(&[xs]) && p < 1.0 {
        return cpu::dropout::dropout(xs, p as f32);
    }
    candle_nn::ops::dropout(xs, p as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::{Device, Var};

    #[test]
    fn drops_the_requested_share_and_scales_the_rest() -> Result<()> {
        let x = Var::from_tensor(&Tensor::ones(
            (300, 1000),
            candle_core::DType::F32,
            &Device::Cpu,
        )?)?;
        let y = dropout(&x, 0.1, true)?;
        let values = y.flatten_all()?.to_vec1::<f32>()?;
        let dropped = values.iter().filter(|v| **v == 0.0).count() as f64 / values.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "{dropped}");
        assert!(values
            .iter()
            .all(|v| *v == 0.0 || (*v - 1.0 / 0.9).abs() < 1e-6));
        // the gradient goes through the same mask
        let weights = random_normal((300, 1000), 0.0, 1.0, 1);
        let grads = (&y * &weights)?.sum_all()?.backward()?;
        let want = (weights * &y)?;
        let diff = max_abs_diff(grads.get(&x).expect("grad"), &want)?;
        assert_eq!(diff, 0.0);
        assert_eq!(
            dropout(&x, 0.1, false)?.to_vec2::<f32>()?,
            x.to_vec2::<f32>()?
        );
        Ok(())
    }
}
