//! `x · Wᵀ` for few rows of `x` (a decoding step: one row per running sequence) on the CPU in
//! f32. A general gemm repacks all of `W` on every call, which for a handful of rows costs as
//! much as the product itself; here `W` is read once, in place, by several threads.
use super::SendPtr;
use rayon::prelude::*;

/// Rows up to which [`matmul_t`] beats the general gemm.
pub const MAX_ROWS: usize = 32;

/// The factors: x (m × k) and w (n × k).
#[derive(Clone, Copy)]
struct Factors<'a> {
    x: &'a [f32],
    m: usize,
    k: usize,
    w: &'a [f32],
    n: usize,
}

/// `out (m × n) = x (m × k) · wᵀ` with `w` (n × k), all row-major and contiguous.
pub fn matmul_t(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
    assert!(x.len() >= m * k && w.len() >= n * k);
    let mut out = vec![0f32; m * n];
    let ptr = SendPtr(out.as_mut_ptr());
    // ~64 KiB of weights per task
    let cols = (16384 / k.max(1)).clamp(4, 256) / 4 * 4;
    let tasks = n.div_ceil(cols);
    let factors = Factors { x, m, k, w, n };
    (0..tasks).into_par_iter().for_each(|t| {
        let (j0, j1) = (t * cols, ((t + 1) * cols).min(n));
        // SAFETY: task t writes only out[i * n + j] for j in j0..j1.
        unsafe { block(&factors, j0, j1, ptr.get()) };
    });
    out
}

/// Columns j0..j1 of the product.
///
/// # Safety
/// `out` points to an m × n buffer; only columns j0..j1 are written.
unsafe fn block(factors: &Factors, j0: usize, j1: usize, out: *mut f32) {
    let Factors { x, m, k, w, n } = *factors;
    #[cfg(target_arch = "x86_64")]
    {
        if k.is_multiple_of(8)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            avx2::block(factors, j0, j1, out);
            return;
        }
    }
    for j in j0..j1 {
        let wj = &w[j * k..(j + 1) * k];
        for i in 0..m {
            *out.add(i * n + j) = super::math::dot(&x[i * k..(i + 1) * k], wj);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Factors;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// 2 rows of x × 4 rows of w at a time (8 accumulators); `k` is a multiple of 8.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block(factors: &Factors, j0: usize, j1: usize, out: *mut f32) {
        let Factors { x, m, k, w, n } = *factors;
        let xp = x.as_ptr();
        let wp = w.as_ptr();
        let mut j = j0;
        while j < j1 {
            let cols = (j1 - j).min(4);
            // rows past the block's end repeat its last row (computed, not stored)
            let wr = [0, 1, 2, 3].map(|c| wp.add((j + c.min(cols - 1)) * k));
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(2);
                let xa = xp.add(i * k);
                let xb = xp.add((i + rows - 1) * k);
                let mut acc = [_mm256_setzero_ps(); 8];
                let mut kk = 0;
                while kk < k {
                    let a = _mm256_loadu_ps(xa.add(kk));
                    let b = _mm256_loadu_ps(xb.add(kk));
                    for c in 0..4 {
                        let wv = _mm256_loadu_ps(wr[c].add(kk));
                        acc[c] = _mm256_fmadd_ps(a, wv, acc[c]);
                        acc[4 + c] = _mm256_fmadd_ps(b, wv, acc[4 + c]);
                    }
                    kk += 8;
                }
                for c in 0..cols {
                    *out.add(i * n + j + c) = hsum(acc[c]);
                    if rows == 2 {
                        *out.add((i + 1) * n + j + c) = hsum(acc[4 + c]);
                    }
                }
                i += rows;
            }
            j += cols;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product() {
        for (m, k, n) in [
            (1, 8, 5),
            (3, 16, 9),
            (16, 64, 130),
            (5, 12, 7),
            (2, 512, 33),
            (7, 48, 6),
            (13, 24, 11),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let got = matmul_t(&x, m, k, &w, n);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum();
                    assert!(
                        (got[i * n + j] - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "({m},{k},{n}) [{i},{j}]"
                    );
                }
            }
        }
    }
}
