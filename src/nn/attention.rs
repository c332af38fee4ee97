//! Multi-head attention pieces shared by T5, BERT and DistilBERT.
use super::dropout::dropout;
use super::softmax::softmax_last_dim;
use candle_core::{DType, Result, Tensor};

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

/// softmax(q·kᵀ·scale + bias)·v over projections q (batch, queries, heads·dim) and k, v (batch,
/// keys, heads·dim), returning (batch, queries, heads·dim), with `bias` broadcast over (batch,
/// heads, query, key) and dropout on the probabilities in training. On the CPU in f32 this is one
/// fused kernel with its own backward pass ([`super::attention_grad`]); elsewhere the heads are
/// split for [`attend_graph`] and merged again.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    bias: Option<&Tensor>,
    scale: f64,
    dropout_p: f64,
    train: bool,
) -> Result<Tensor> {
    let p = if train { dropout_p } else { 0.0 };
    match super::attention_grad::attend_cpu(q, k, v, heads, bias, scale, p)? {
        Some(out) => Ok(out),
        None => attend_graph_projected(q, k, v, heads, bias, scale, dropout_p, train),
    }
}

/// [`attend_graph`] over projections: heads split, attended and merged again.
#[allow(clippy::too_many_arguments)]
pub fn attend_graph_projected(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    bias: Option<&Tensor>,
    scale: f64,
    dropout_p: f64,
    train: bool,
) -> Result<Tensor> {
    let split = |x: &Tensor| split_heads(x, heads);
    merge_heads(&attend_graph(
        &split(q)?,
        &split(k)?,
        &split(v)?,
        bias,
        scale,
        dropout_p,
        train,
    )?)
}

/// [`attend`] as a chain of candle ops (any device and dtype); softmax runs in f32 as in
/// Transformers.
pub fn attend_graph(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    scale: f64,
    dropout_p: f64,
    train: bool,
) -> Result<Tensor> {
    let mut scores = q.matmul(&k.t()?)?;
    if scale != 1.0 {
        scores = (scores * scale)?;
    }
    let dtype = scores.dtype();
    let mut scores = super::at_least_f32(&scores)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(&bias.to_dtype(scores.dtype())?)?;
    }
    let probs = softmax_last_dim(&scores)?.to_dtype(dtype)?;
    let probs = dropout(&probs, dropout_p, train)?;
    probs.matmul(&v.contiguous()?)
}

/// A padding mask (batch, key) of 1/0 → additive bias (batch, 1, 1, key): 0 where kept,
/// the most negative f32 where masked.
pub fn padding_bias(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let keep = mask.to_dtype(DType::F32)?;
    let bias = ((1.0 - keep)? * f32::MIN as f64)?;
    bias.reshape((b, 1, 1, t))
}

/// Causal bias (1, 1, query, key) for a decoder whose queries start at `offset`.
pub fn causal_bias(
    queries: usize,
    keys: usize,
    offset: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let values: Vec<f32> = (0..queries)
        .flat_map(|i| (0..keys).map(move |j| if j <= i + offset { 0.0 } else { f32::MIN }))
        .collect();
    Tensor::from_vec(values, (1, 1, queries, keys), device)
}
