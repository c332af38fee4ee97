//! Softmax over the last dimension: candle's fused kernel with a backward pass.
use super::grad_attach::{with_input_grad, InputGrad};
use candle_core::{Result, Tensor, D};

struct SoftmaxGrad;

impl InputGrad for SoftmaxGrad {
    fn input_grad(&self, _: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
        let dot = (g * y)?.sum_keepdim(D::Minus1)?;
        y * g.broadcast_sub(&dot)?
    }
}

pub fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    with_input_grad(xs, candle_nn::ops::softmax_last_dim, SoftmaxGrad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::check;

    #[test]
    fn softmax_backward() {
        check(softmax_last_dim, &[2, 3, 5]);
    }
}
