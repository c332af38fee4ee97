//! Moving heads between the projections' layout and one matrix per head.
use candle_core::{Result, Tensor};

/// (batch, time, heads·dim) → (batch, heads, time, dim)
pub fn split_heads(xs: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, hd) = xs.dims3()?;
    xs.reshape((b, t, heads, hd / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// (batch, heads, time, dim) → (batch, time, heads·dim)
pub fn merge_heads(xs: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = xs.dims4()?;
    xs.transpose(1, 2)?.contiguous()?.reshape((b, t, h * d))
}
