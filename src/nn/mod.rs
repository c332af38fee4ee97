//! Layers shared by every model: linear (LoRA-ready), norms, softmax, attention pieces.
pub mod activation;
pub mod attention;
pub(crate) mod cpu;
pub mod dropout;
pub mod embedding;
#[cfg(test)]
mod finite_difference;
pub mod grad_attach;
pub mod kv_cache;
pub mod linear;
pub mod lora;
pub mod loss;
pub mod norm;
pub mod param;
pub mod softmax;
mod weights;

pub use linear::Linear;
pub use lora::{AdapterShape, LoraAdapter};
pub use param::Param;
pub use weights::Weights;

/// Reductions run in f32, or f64 when the input is f64.
pub fn at_least_f32(xs: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
    use candle_core::DType;
    match xs.dtype() {
        DType::F64 | DType::F32 => Ok(xs.clone()),
        _ => xs.to_dtype(DType::F32),
    }
}
