//! Softmax of one row in place, for the fused attention kernels (the probabilities of one query
//! while its scores are in cache).
use super::math::exp;
use super::simd::simd_dispatch;

/// Row softmax with independent partial maxima and sums, so that it vectorises.
#[inline(always)]
fn softmax_row(s: &mut [f32]) {
    const L: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; L];
    let mut chunks = s.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sums = [0f32; L];
    let mut chunks = s.chunks_exact_mut(L);
    for c in &mut chunks {
        for i in 0..L {
            c[i] = exp(c[i] - max);
            sums[i] += c[i];
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    for x in s.iter_mut() {
        *x *= inv;
    }
}

simd_dispatch! {
    /// Softmax of one row in place, with the widest instructions available.
    pub fn softmax_in_place(s: &mut [f32]) = softmax_row
}
