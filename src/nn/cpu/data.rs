//! Direct access to the f32 data of CPU tensors.
use candle_core::{DType, Result, Storage, Tensor};

/// Whether every tensor lives on the CPU as f32 (the fused kernels' precondition).
pub fn all_cpu_f32(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// Runs `f` on the whole f32 buffer behind `t` (read from `t.layout()` offsets and strides).
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, _) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(cpu.as_slice::<f32>()?),
        _ => candle_core::bail!("expected a CPU tensor"),
    }
}

/// [`with_f32`] for an optional tensor: `f` gets `None` when there is none.
pub fn with_optional_f32<R>(
    t: Option<&Tensor>,
    f: impl FnOnce(Option<&[f32]>) -> Result<R>,
) -> Result<R> {
    match t {
        Some(t) => with_f32(t, |data| f(Some(data))),
        None => f(None),
    }
}
