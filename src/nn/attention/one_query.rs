//! Attention of one query (a decoding step over cached keys/values) on the CPU in f32: dot
//! products, softmax and the weighted sum in one pass per (sequence, head), in parallel over
//! them; no score tensors in memory, no per-head matmul calls on the whole batch. No gradient.
use crate::nn::cpu::math::{axpy, dot, exp};
use crate::nn::cpu::{with_f32, with_optional_f32};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// softmax(q·kᵀ + bias)·v (no scaling, no dropout) for q (batch, heads, 1, dim) and k, v
/// (batch, heads, keys, dim) with any strides; `bias` broadcasts to (batch, heads, 1, keys).
/// The inputs must be CPU f32 tensors (checked by the caller).
pub(super) fn attend(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, h, _, d) = q.dims4()?;
    let keys = k.dim(2)?;
    let q = q.contiguous()?;
    let last_contiguous = |t: &Tensor| -> Result<Tensor> {
        if t.stride()[3] == 1 {
            Ok(t.clone())
        } else {
            t.contiguous()
        }
    };
    let (k, v) = (last_contiguous(k)?, last_contiguous(v)?);
    let bias = bias.map(|t| t.broadcast_as((b, h, 1, keys))).transpose()?;
    let (ks, vs) = (k.stride().to_vec(), v.stride().to_vec());
    let (ko, vo) = (k.layout().start_offset(), v.layout().start_offset());
    let (bs, bo) = match &bias {
        Some(t) => (t.stride().to_vec(), t.layout().start_offset()),
        None => (vec![0; 4], 0),
    };
    let qo = q.layout().start_offset();
    let mut out = vec![0f32; b * h * d];
    with_f32(&q, |qd| {
        with_f32(&k, |kd| {
            with_f32(&v, |vd| {
                let mut run = |bd: Option<&[f32]>| {
                    out.par_chunks_mut(d)
                        .enumerate()
                        .with_min_len(4)
                        .for_each(|(i, o)| {
                            let (bi, hi) = (i / h, i % h);
                            let task = Head {
                                q: &qd[qo + i * d..qo + (i + 1) * d],
                                k: kd,
                                k_start: ko + bi * ks[0] + hi * ks[1],
                                k_step: ks[2],
                                v: vd,
                                v_start: vo + bi * vs[0] + hi * vs[1],
                                v_step: vs[2],
                                bias: bd.map(|bd| (bd, bo + bi * bs[0] + hi * bs[1], bs[3])),
                                keys,
                            };
                            task.run(o);
                        })
                };
                with_optional_f32(bias.as_ref(), |bd| {
                    run(bd);
                    Ok(())
                })
            })
        })
    })?;
    Tensor::from_vec(out, (b, h, 1, d), q.device())
}

struct Head<'a> {
    q: &'a [f32],
    k: &'a [f32],
    k_start: usize,
    k_step: usize,
    v: &'a [f32],
    v_start: usize,
    v_step: usize,
    bias: Option<(&'a [f32], usize, usize)>,
    keys: usize,
}

impl Head<'_> {
    fn run(&self, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if self.q.len().is_multiple_of(8)
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { self.run_avx2(out) };
                return;
            }
        }
        self.run_generic(out);
    }

    /// Scores (with bias) into `scores`; returns their maximum.
    #[inline(always)]
    fn scores_generic(&self, scores: &mut Vec<f32>) -> f32 {
        let d = self.q.len();
        let mut max = f32::NEG_INFINITY;
        for j in 0..self.keys {
            let kj = &self.k[self.k_start + j * self.k_step..][..d];
            let mut s = dot(self.q, kj);
            if let Some((bd, start, step)) = self.bias {
                s += bd[start + j * step];
            }
            max = max.max(s);
            scores.push(s);
        }
        max
    }

    /// exp(score − max) in place; returns their sum.
    #[inline(always)]
    fn exponentiate(scores: &mut [f32], max: f32) -> f32 {
        let mut sum = 0f32;
        for s in scores.iter_mut() {
            *s = exp(*s - max);
            sum += *s;
        }
        sum
    }

    #[inline(always)]
    fn run_generic(&self, out: &mut [f32]) {
        let d = self.q.len();
        let mut scores = Vec::with_capacity(self.keys);
        let max = self.scores_generic(&mut scores);
        let sum = Self::exponentiate(&mut scores, max);
        out.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            axpy(out, p, &self.v[self.v_start + j * self.v_step..][..d]);
        }
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }

    /// The same with AVX2/FMA: four keys at a time for the scores and for the weighted sum.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, out: &mut [f32]) {
        use std::arch::x86_64::*;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
        }
        let d = self.q.len();
        let keys = self.keys;
        if keys == 0 {
            out.fill(0.0);
            return;
        }
        // bounds of every row read below
        assert!(self.k.len() >= self.k_start + (keys - 1) * self.k_step + d);
        assert!(self.v.len() >= self.v_start + (keys - 1) * self.v_step + d);
        assert!(out.len() == d);
        let q = self.q.as_ptr();
        let k = self.k.as_ptr().add(self.k_start);
        let v = self.v.as_ptr().add(self.v_start);
        let mut scores = vec![0f32; keys];
        let mut j = 0;
        while j < keys {
            let n = (keys - j).min(4);
            let rows = [0, 1, 2, 3].map(|c| k.add((j + c.min(n - 1)) * self.k_step));
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut kk = 0;
            while kk < d {
                let qv = _mm256_loadu_ps(q.add(kk));
                for c in 0..4 {
                    acc[c] = _mm256_fmadd_ps(_mm256_loadu_ps(rows[c].add(kk)), qv, acc[c]);
                }
                kk += 8;
            }
            for c in 0..n {
                scores[j + c] = hsum(acc[c]);
            }
            j += n;
        }
        let mut max = f32::NEG_INFINITY;
        if let Some((bd, start, step)) = self.bias {
            for (j, s) in scores.iter_mut().enumerate() {
                *s += bd[start + j * step];
                max = max.max(*s);
            }
        } else {
            max = scores.iter().copied().fold(max, f32::max);
        }
        let sum = Self::exponentiate(&mut scores, max);
        let inv = 1.0 / sum;
        let o = out.as_mut_ptr();
        let mut kk = 0;
        while kk < d {
            _mm256_storeu_ps(o.add(kk), _mm256_setzero_ps());
            kk += 8;
        }
        let mut j = 0;
        while j < keys {
            let n = (keys - j).min(4);
            // a missing key of the last group repeats the previous one with weight 0
            let p =
                [0, 1, 2, 3].map(|c| _mm256_set1_ps(if c < n { scores[j + c] * inv } else { 0.0 }));
            let rows = [0, 1, 2, 3].map(|c| v.add((j + c.min(n - 1)) * self.v_step));
            let mut kk = 0;
            while kk < d {
                let mut acc = _mm256_loadu_ps(o.add(kk));
                for c in 0..4 {
                    acc = _mm256_fmadd_ps(p[c], _mm256_loadu_ps(rows[c].add(kk)), acc);
                }
                _mm256_storeu_ps(o.add(kk), acc);
                kk += 8;
            }
            j += n;
        }
    }
}
