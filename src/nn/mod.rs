//! Layers shared by every model, and the CPU kernels behind them. nn imports only the base
//! modules (`error`) and itself; lora, models and the trainers build on it.
//!
//! - [`Weights`] (`weights.rs`): named safetensors tensors with shape checks and key aliases.
//! - [`Param`] (`param.rs`): a frozen tensor or a trainable `Var`.
//! - [`Linear`] (`linear.rs`): a named linear layer, optionally with a [`LoraAdapter`]
//!   (`lora.rs`: the adapter's math, y += (α/r)·B·A·dropout(x)).
//! - `norm`, `activation`, `dropout`, `embedding`, `loss` (token cross-entropy): the other
//!   layers, each picking a fused CPU kernel when its inputs qualify.
//! - `attention/`: one entry point, `attention::attend`, choosing between the CPU kernels
//!   (`fused/` per (sequence, head) with its backward pass, `one_query.rs` for a decoding step)
//!   and the candle-op reference (`reference.rs`).
//! - `finite_check`: names the first layer whose output is not finite, when a step is replayed.
//! - `kv_cache`: keys and values of incremental decoding, in preallocated buffers.
//! - `softmax.rs`, `grad_attach.rs`: candle's fused softmax and norm kernels given a backward
//!   pass (the attention reference, norms off the CPU).
//! - `cpu/` (crate-private): the raw CPU f32 kernels (SIMD dispatch, gemm, skinny matmul, fused
//!   norm, activation, dropout, cross-entropy, frozen and LoRA linear ops); nothing outside nn
//!   calls them, and they call nothing in nn outside `cpu/`.
pub mod activation;
pub mod attention;
pub(crate) mod cpu;
pub mod dropout;
pub mod embedding;
pub mod finite_check;
#[cfg(test)]
mod finite_difference;
mod grad_attach;
pub mod kv_cache;
mod linear;
mod lora;
pub mod loss;
pub mod norm;
mod param;
mod softmax;
mod weights;

pub use linear::Linear;
pub use lora::{AdapterShape, LoraAdapter};
pub use param::Param;
pub use weights::Weights;

/// Reductions run in f32, or f64 when the input is f64.
fn at_least_f32(xs: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
    use candle_core::DType;
    match xs.dtype() {
        DType::F64 | DType::F32 => Ok(xs.clone()),
        _ => xs.to_dtype(DType::F32),
    }
}
