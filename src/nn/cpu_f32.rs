//! Direct access to the f32 data of CPU tensors, for the few fused kernels of incremental decoding.
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

/// Dot product with independent partial sums (vectorisable).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; L];
    let mut ca = a.chunks_exact(L);
    let mut cb = b.chunks_exact(L);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let mut s = 0f32;
    for v in acc {
        s += v;
    }
    s + tail
}

/// y += a·x
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}
