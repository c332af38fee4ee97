//! Dropout on the CPU in f32 as one parallel kernel each way, whose mask comes from a
//! counter-based generator: the backward pass regenerates it instead of storing it (candle's
//! dropout draws a ChaCha uniform tensor and runs four elementwise ops). The fused attention and
//! LoRA kernels draw their masks here too.
use super::data::with_f32;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `xs` with elements zeroed with probability `p` (0 < p < 1) and the rest scaled by 1/(1-p)
/// by the mask of `seed`, with a gradient; `xs` must be a CPU f32 tensor.
pub fn dropout(xs: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    xs.contiguous()?.apply_op1(Dropout { p, seed })
}

/// The multipliers of `n` elements that [`apply_mask`] uses for `seed` and `p`.
pub fn mask(seed: u64, p: f32, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, o)| fill_mask(seed, i, p, o));
    out
}

/// The dropout multipliers of one stream: 0 with probability `p`, else 1/(1-p). The same `seed`
/// and `stream` always give the same mask. Each element hashes its own index (counter-based, so
/// the loop vectorises).
pub fn fill_mask(seed: u64, stream: usize, p: f32, mask: &mut [f32]) {
    let threshold = (p as f64 * 4_294_967_296.0).min(4_294_967_295.0) as u32;
    let keep = 1.0 / (1.0 - p);
    let inner = hash32((seed as u32) ^ hash32(stream as u32 ^ 0x9E37_79B9));
    let outer = hash32(((seed >> 32) as u32) ^ hash32(inner ^ stream as u32));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { fill_avx2(inner, outer, threshold, keep, mask) };
    }
    fill(inner, outer, threshold, keep, mask)
}

/// A 32-bit integer hash (a bijection with good avalanche).
#[inline(always)]
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

#[inline(always)]
fn fill(inner: u32, outer: u32, threshold: u32, keep: f32, mask: &mut [f32]) {
    for (i, m) in mask.iter_mut().enumerate() {
        let u = hash32(hash32(i as u32 ^ inner) ^ outer);
        *m = if u < threshold { 0.0 } else { keep };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(inner: u32, outer: u32, threshold: u32, keep: f32, mask: &mut [f32]) {
    fill(inner, outer, threshold, keep, mask)
}

/// Elements per mask stream: chunk i of a tensor uses stream i.
const CHUNK: usize = 16 * 1024;

/// `xs` times the dropout mask of (`seed`, `p`), in parallel chunks.
pub fn apply_mask(seed: u64, p: f32, xs: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(CHUNK)
        .zip(xs.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(i, (o, x))| {
            fill_mask(seed, i, p, o);
            o.iter_mut().zip(x).for_each(|(o, x)| *o *= x);
        });
    out
}

/// dst += mask ∘ src, with the mask [`apply_mask`] uses for the same `seed` and `p`.
pub fn add_masked(seed: u64, p: f32, dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(i, (d, s))| {
            let mut mask = vec![0f32; d.len()];
            fill_mask(seed, i, p, &mut mask);
            d.iter_mut()
                .zip(s)
                .zip(&mask)
                .for_each(|((d, s), m)| *d += s * m);
        });
}

struct Dropout {
    p: f32,
    seed: u64,
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = layout.shape().elem_count();
        let xs = &storage.as_slice::<f32>()?[layout.start_offset()..][..n];
        Ok((
            CpuStorage::F32(apply_mask(self.seed, self.p, xs)),
            layout.shape().clone(),
        ))
    }

    fn bwd(&self, xs: &Tensor, _: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let n = grad.elem_count();
        let out = with_f32(&grad, |g| {
            Ok(apply_mask(
                self.seed,
                self.p,
                &g[grad.layout().start_offset()..][..n],
            ))
        })?;
        Ok(Some(Tensor::from_vec(out, xs.shape(), xs.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_mask_drops_the_requested_share() {
        let mut mask = vec![0f32; 100_000];
        fill_mask(7, 3, 0.1, &mut mask);
        let dropped = mask.iter().filter(|m| **m == 0.0).count() as f64 / mask.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "{dropped}");
        assert!(mask
            .iter()
            .all(|m| *m == 0.0 || (*m - 1.0 / 0.9).abs() < 1e-6));
        let mut other = vec![0f32; 100_000];
        fill_mask(7, 4, 0.1, &mut other);
        assert_ne!(mask, other, "heads get different masks");
    }
}
