//! The raw CPU f32 kernels behind nn's layers, each a candle custom op with its own backward
//! pass (or a plain function over slices), parallel on rayon's threads and vectorised.
//!
//! The layers decide when a kernel applies (CPU, f32, frozen weights...) and otherwise run
//! candle ops; nothing here imports from nn outside `cpu`, and nothing outside nn sees it.
pub(crate) mod activation;
pub(crate) mod activation_formulas;
pub(crate) mod cross_entropy;
mod data;
pub(crate) mod dropout;
pub(crate) mod frozen_matmul;
pub(crate) mod gemm;
pub(crate) mod lora_linear;
pub(crate) mod math;
pub(crate) mod norm;
pub(crate) mod saved;
mod send_ptr;
pub(crate) mod simd;
pub(crate) mod skinny;
pub(crate) mod softmax;

pub(crate) use data::{all_cpu_f32, with_f32, with_optional_f32};
pub(crate) use send_ptr::SendPtr;
