//! Attention of one new query per sequence over cached keys/values (a decoding step).
//!
//! On the CPU in f32 this is one fused pass per (sequence, head), in parallel: no per-head
//! matmul calls, no score tensors. Elsewhere it is [`super::attention::attend`].
use super::cpu_f32::{all_cpu_f32, axpy, dot, with_f32};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// softmax(q·kᵀ + bias)·v (no scaling, no dropout) for q (batch, heads, 1, dim) and k, v
/// (batch, heads, keys, dim) with any strides; `bias` broadcasts to (batch, heads, 1, keys).
pub fn attend_one_query(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, h, queries, d) = q.dims4()?;
    let keys = k.dim(2)?;
    let mut inputs = vec![q, k, v];
    inputs.extend(bias);
    if queries != 1 || !all_cpu_f32(&inputs) {
        return super::attention::attend(q, k, v, bias, 1.0, 0.0, false);
    }
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
                match &bias {
                    Some(t) => with_f32(t, |bd| {
                        run(Some(bd));
                        Ok(())
                    }),
                    None => {
                        run(None);
                        Ok(())
                    }
                }
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
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { self.run_avx2(out) };
                return;
            }
        }
        self.run_generic(out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, out: &mut [f32]) {
        self.run_generic(out)
    }

    #[inline(always)]
    fn run_generic(&self, out: &mut [f32]) {
        let d = self.q.len();
        let mut scores = Vec::with_capacity(self.keys);
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
        let mut sum = 0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        out.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            if p != 0.0 {
                axpy(out, p, &self.v[self.v_start + j * self.v_step..][..d]);
            }
        }
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, IndexOp};

    #[test]
    fn matches_generic_attention() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, t, d) = (3, 4, 7, 20);
        let q = Tensor::randn(0f32, 1.0, (b, h, 1, d), &dev)?;
        // keys/values as views into larger buffers (like a cache with spare capacity)
        let kb = Tensor::randn(0f32, 1.0, (b, h, t + 5, d), &dev)?;
        let vb = Tensor::randn(0f32, 1.0, (b, h, t + 5, d), &dev)?;
        let (k, v) = (kb.narrow(2, 0, t)?, vb.narrow(2, 0, t)?);
        let pos = Tensor::randn(0f32, 1.0, (1, h, 1, t), &dev)?;
        let mut pad = vec![0f32; b * t];
        pad[t - 1] = f32::MIN;
        pad[2 * t - 2] = f32::MIN;
        let pad = Tensor::from_vec(pad, (b, 1, 1, t), &dev)?;
        for bias in [None, Some(&pos), Some(&pad)] {
            let fast = attend_one_query(&q, &k, &v, bias)?;
            let slow = super::super::attention::attend(
                &q,
                &k.contiguous()?,
                &v.contiguous()?,
                bias,
                1.0,
                0.0,
                false,
            )?;
            let diff = (fast - slow)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "max diff {diff}");
        }
        let _ = q.i(0)?;
        Ok(())
    }
}
