//! Direct access to the f32 data of CPU tensors, for the few fused kernels of incremental decoding.
use candle_core::{DType, Result, Storage, Tensor};

/// `$vis fn $name(args)` running `$generic` (an `#[inline(always)]` function, so that it is
/// compiled anew for each instruction set) with AVX-512, AVX2+FMA or baseline x86-64
/// instructions, whichever the CPU has.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $generic:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                $generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $generic($($arg),*)
            }
            match $crate::nn::cpu_f32::simd() {
                // SAFETY: `simd()` checked that the CPU has these instructions.
                #[cfg(target_arch = "x86_64")]
                $crate::nn::cpu_f32::Simd::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::nn::cpu_f32::Simd::Avx2 => unsafe { avx2($($arg),*) },
                _ => $generic($($arg),*),
            }
        }
    };
}
pub(crate) use simd_dispatch;

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

/// e^x in f32 (Cephes' `expf`: |relative error| ≲ 2e-7), written to vectorise.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    // n as an integer, read from the mantissa of `shifted` (an `as i32` cast would not vectorise)
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// The activations with a fused CPU kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastActivation {
    /// `gelu_new`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = x·σ(2·√(2/π)·(x + 0.044715·x³))
    GeluTanh,
    /// x·σ(x)
    Silu,
    /// erf GELU (`gelu`): x·Φ(x)
    Gelu,
}

/// Φ(x), the standard normal CDF, from erfc in Numerical Recipes' Chebyshev form (relative error
/// below 1.2e-7 everywhere), written to vectorise.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn normal_cdf(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = 0.170_872_77f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_87;
    p = p * t - 1.135_203_98;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_68;
    p = p * t - 1.265_512_23;
    let half_erfc = 0.5 * t * exp(p - z * z);
    if x < 0.0 {
        half_erfc
    } else {
        1.0 - half_erfc
    }
}

/// d/dx of the activation.
#[inline(always)]
fn derivative(kind: FastActivation, x: f32) -> f32 {
    match kind {
        FastActivation::GeluTanh => {
            const C: f32 = 0.797_884_6;
            let s = 1.0 / (1.0 + exp(-2.0 * C * (x + 0.044_715 * x * x * x)));
            s + x * s * (1.0 - s) * 2.0 * C * (1.0 + 3.0 * 0.044_715 * x * x)
        }
        FastActivation::Silu => {
            let s = 1.0 / (1.0 + exp(-x));
            s * (1.0 + x * (1.0 - s))
        }
        FastActivation::Gelu => {
            const INV_SQRT_2PI: f32 = 0.398_942_3;
            normal_cdf(x) + x * INV_SQRT_2PI * exp(-0.5 * x * x)
        }
    }
}

/// grad · act'(x), elementwise.
#[inline(always)]
fn backward_slice(kind: FastActivation, xs: &[f32], grad: &[f32], out: &mut [f32]) {
    for ((o, &x), &g) in out.iter_mut().zip(xs).zip(grad) {
        *o = g * derivative(kind, x);
    }
}

/// The widest vector instructions this CPU has that the kernels are compiled for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Avx512,
    Avx2,
    Scalar,
}

pub fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if has_avx2_fma() {
            return Simd::Avx2;
        }
    }
    Simd::Scalar
}

simd_dispatch! {
    /// act(x) (· gate) into `out` with the widest instructions available.
    fn activate_chunk(kind: FastActivation, x: &[f32], gate: Option<&[f32]>, out: &mut [f32]) = activate_slice
}

simd_dispatch! {
    /// grad · act'(x) into `out` with the widest instructions available.
    fn backward_chunk(kind: FastActivation, x: &[f32], grad: &[f32], out: &mut [f32]) = backward_slice
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `f` over parallel chunks of `out` and the matching chunks of `xs` and `other`.
fn par_chunks(
    xs: &[f32],
    other: Option<&[f32]>,
    out: &mut [f32],
    f: impl Fn(&[f32], Option<&[f32]>, &mut [f32]) + Sync,
) {
    use rayon::prelude::*;
    const CHUNK: usize = 16 * 1024;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
        let range = c * CHUNK..c * CHUNK + o.len();
        f(&xs[range.clone()], other.map(|g| &g[range]), o)
    });
}

/// act(x) for a contiguous slice, in parallel.
pub fn activate_all(kind: FastActivation, xs: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    par_chunks(xs, None, &mut out, |x, _, o| {
        activate_chunk(kind, x, None, o)
    });
    out
}

/// grad · act'(x) for contiguous slices of the same length, in parallel.
pub fn activation_backward(kind: FastActivation, xs: &[f32], grad: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    par_chunks(xs, Some(grad), &mut out, |x, g, o| {
        backward_chunk(kind, x, g.unwrap_or_default(), o)
    });
    out
}

#[inline(always)]
fn activate(kind: FastActivation, x: f32) -> f32 {
    match kind {
        FastActivation::GeluTanh => {
            const C: f32 = 0.797_884_6; // √(2/π)
            let y = C * (x + 0.044_715 * x * x * x);
            x / (1.0 + exp(-2.0 * y))
        }
        FastActivation::Silu => x / (1.0 + exp(-x)),
        FastActivation::Gelu => x * normal_cdf(x),
    }
}

#[inline(always)]
fn activate_slice(kind: FastActivation, xs: &[f32], gate: Option<&[f32]>, out: &mut [f32]) {
    match gate {
        Some(g) => {
            for ((o, &x), &g) in out.iter_mut().zip(xs).zip(g) {
                *o = activate(kind, x) * g;
            }
        }
        None => {
            for (o, &x) in out.iter_mut().zip(xs) {
                *o = activate(kind, x);
            }
        }
    }
}

/// `act(xs)`, or `act(xs) · gate` (a gated feed-forward), for contiguous CPU f32 tensors of the
/// same shape; `None` when the tensors do not qualify. No gradient.
pub fn activation(
    kind: FastActivation,
    xs: &Tensor,
    gate: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let mut inputs = vec![xs];
    inputs.extend(gate);
    if !all_cpu_f32(&inputs)
        || !inputs
            .iter()
            .all(|t| t.is_contiguous() && t.shape() == xs.shape())
    {
        return Ok(None);
    }
    let n = xs.elem_count();
    let mut out = vec![0f32; n];
    let run = |x: &[f32], g: Option<&[f32]>, out: &mut Vec<f32>| {
        par_chunks(x, g, out, |x, g, o| activate_chunk(kind, x, g, o))
    };
    with_f32(xs, |x| {
        let x = &x[xs.layout().start_offset()..][..n];
        match gate {
            Some(gt) => with_f32(gt, |g| {
                run(x, Some(&g[gt.layout().start_offset()..][..n]), &mut out);
                Ok(())
            }),
            None => {
                run(x, None, &mut out);
                Ok(())
            }
        }
    })?;
    Ok(Some(Tensor::from_vec(out, xs.shape(), xs.device())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp(x) as f64) - (x as f64).exp()).abs() / (x as f64).exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(exp(200.0).is_finite());
    }

    #[test]
    fn activations_match_candle() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let x = (Tensor::randn(0f32, 3.0, (3, 1000), &dev)? * 1.0)?;
        let g = Tensor::randn(0f32, 1.0, (3, 1000), &dev)?;
        for (kind, want) in [
            (FastActivation::GeluTanh, x.gelu()?),
            (FastActivation::Silu, x.silu()?),
        ] {
            let got = activation(kind, &x, None)?.expect("qualifies");
            let diff = (&got - &want)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{kind:?}: {diff}");
            let gated = activation(kind, &x, Some(&g))?.expect("qualifies");
            let diff = (&gated - (want * &g)?)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{kind:?} gated: {diff}");
        }
        Ok(())
    }
}

/// An output pointer shared by parallel tasks.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: every user gives each task a disjoint part of the buffer to write (columns in the
// few-rows matmul, one head's rows in fused attention).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    pub fn get(&self) -> *mut f32 {
        self.0
    }
}
