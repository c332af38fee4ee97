//! Dropout that is active in training only.
use candle_core::{Result, Tensor};

pub fn dropout(xs: &Tensor, p: f64, train: bool) -> Result<Tensor> {
    if train && p > 0.0 {
        candle_nn::ops::dropout(xs, p as f32)
    } else {
        Ok(xs.clone())
    }
}
