//! Input gradients of layer norm and RMS norm on the CPU in f32: one parallel pass over rows
//! instead of a dozen single-threaded elementwise ops on (rows × hidden) tensors.
use super::cpu_f32::{all_cpu_f32, with_f32};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// Which norm, and its ε.
#[derive(Clone, Copy)]
pub enum NormKind {
    /// (x − mean)/σ · w (+ b)
    Layer(f64),
    /// x/rms · w
    Rms(f64),
}

/// ∂loss/∂x of `kind` with weight `w` (hidden), for x and g (…, hidden); `None` when the
/// tensors are not CPU f32.
pub fn norm_input_grad(kind: NormKind, x: &Tensor, g: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    if !all_cpu_f32(&[x, g, w]) {
        return Ok(None);
    }
    let (x, g, w) = (x.contiguous()?, g.contiguous()?, w.contiguous()?);
    let hidden = w.elem_count();
    let n = x.elem_count();
    let mut out = vec![0f32; n];
    with_f32(&x, |xd| {
        with_f32(&g, |gd| {
            with_f32(&w, |wd| {
                let xd = &xd[x.layout().start_offset()..][..n];
                let gd = &gd[g.layout().start_offset()..][..n];
                let wd = &wd[w.layout().start_offset()..][..hidden];
                out.par_chunks_mut(hidden)
                    .zip(xd.par_chunks(hidden).zip(gd.par_chunks(hidden)))
                    .for_each(|(dx, (x, g))| row_grad(kind, x, g, wd, dx));
                Ok(())
            })
        })
    })?;
    Ok(Some(Tensor::from_vec(out, x.shape(), x.device())?))
}

fn row_grad(kind: NormKind, x: &[f32], g: &[f32], w: &[f32], dx: &mut [f32]) {
    let n = x.len() as f64;
    match kind {
        NormKind::Layer(eps) => {
            let mean = x.iter().map(|v| *v as f64).sum::<f64>() / n;
            let var = x.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n;
            let r = 1.0 / (var + eps).sqrt();
            let (mut sum_g, mut sum_gx) = (0f64, 0f64);
            for ((x, g), w) in x.iter().zip(g).zip(w) {
                let gw = (g * w) as f64;
                sum_g += gw;
                sum_gx += gw * (*x as f64 - mean) * r;
            }
            let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
            for (((d, x), g), w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                let xhat = (*x as f64 - mean) * r;
                *d = (r * ((g * w) as f64 - mean_g - xhat * mean_gx)) as f32;
            }
        }
        NormKind::Rms(eps) => {
            let ms = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n;
            let r = 1.0 / (ms + eps).sqrt();
            let proj = x.iter().zip(g).zip(w).map(|((x, g), w)| (g * w * x) as f64).sum::<f64>() / n;
            let r3 = r * r * r;
            for (((d, x), g), w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                *d = ((g * w) as f64 * r - *x as f64 * proj * r3) as f32;
            }
        }
    }
}
