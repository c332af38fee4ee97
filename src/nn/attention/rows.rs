//! Row operations of the fused kernel between its two products, vectorised.
use crate::nn::cpu::math;
use crate::nn::cpu::simd::simd_dispatch;

simd_dispatch! {
    /// dst += src
    pub(super) fn add_row(dst: &mut [f32], src: &[f32]) = add_row_generic
}

#[inline(always)]
fn add_row_generic(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

simd_dispatch! {
    /// The scores' gradient from the probabilities' gradient `ds` (rows of `keys`), in place:
    /// p ⊙ (ds − rowsum(ds ⊙ p)) · scale, after the dropout `mask` (kept scale included).
    pub(super) fn softmax_grad(ds: &mut [f32], probs: &[f32], mask: Option<&[f32]>, keys: usize, scale: f32) = softmax_grad_generic
}

#[inline(always)]
fn softmax_grad_generic(
    ds: &mut [f32],
    probs: &[f32],
    mask: Option<&[f32]>,
    keys: usize,
    scale: f32,
) {
    if let Some(m) = mask {
        ds.iter_mut().zip(m).for_each(|(d, m)| *d *= m);
    }
    for (d, p) in ds.chunks_exact_mut(keys).zip(probs.chunks_exact(keys)) {
        let dot = math::dot(d, p);
        d.iter_mut()
            .zip(p)
            .for_each(|(d, p)| *d = p * (*d - dot) * scale);
    }
}
