//! Dropout, active in training only; on the CPU in f32 a fused kernel (`cpu/dropout.rs`).
//!
//! Every mask is addressed, not drawn: the trainer opens a [`scope`] for each micro-batch with
//! (seed, step, micro-batch), and each dropout of the forward pass — a model's own, LoRA's, the
//! attention's — takes the next module number in that scope ([`next_seed`]). The forward pass
//! visits modules in a fixed order, so the mask of (seed, step, micro-batch, module) is the same
//! in every run, in a resumed run, and whatever the thread count (a mask is a function of its
//! seed and element index, never of which thread fills it).
use super::cpu;
use crate::rng::{Purpose, Stream};
use candle_core::{Result, Tensor};
use std::cell::Cell;

#[derive(Clone, Copy)]
struct Keys {
    seed: u64,
    step: u64,
    micro: u64,
    module: u64,
}

thread_local! {
    /// The open scope of this thread. Outside any scope (a test calling a model in training
    /// mode) masks come from seed 0, step and micro-batch `u64::MAX`, still deterministic.
    static KEYS: Cell<Keys> = const { Cell::new(Keys { seed: 0, step: u64::MAX, micro: u64::MAX, module: 0 }) };
}

/// Restores the enclosing scope when dropped.
pub struct Scope {
    previous: Keys,
}

impl Drop for Scope {
    fn drop(&mut self) {
        KEYS.with(|k| k.set(self.previous));
    }
}

/// Dropout masks of the forward passes until the returned guard is dropped come from
/// (`seed`, `step`, `micro`) and their module's position in the pass.
#[must_use = "the scope ends when this guard is dropped"]
pub fn scope(seed: u64, step: u64, micro: u64) -> Scope {
    let previous = KEYS.with(|k| {
        k.replace(Keys {
            seed,
            step,
            micro,
            module: 0,
        })
    });
    Scope { previous }
}

/// The mask seed of the next dropout module of the current scope.
pub fn next_seed() -> u64 {
    KEYS.with(|k| {
        let keys = k.get();
        k.set(Keys {
            module: keys.module + 1,
            ..keys
        });
        Stream::new(
            keys.seed,
            Purpose::Dropout,
            [keys.step, keys.micro, keys.module],
        )
        .next_u64()
    })
}

pub fn dropout(xs: &Tensor, p: f64, train: bool) -> Result<Tensor> {
    if !train || p <= 0.0 {
        return Ok(xs.clone());
    }
    if p >= 1.0 {
        return xs.zeros_like();
    }
    masked(xs, p, next_seed())
}

/// `xs` times the dropout mask of `seed` (0 < p < 1).
pub(crate) fn masked(xs: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    if cpu::all_cpu_f32(&[xs]) {
        return cpu::dropout::dropout(xs, p as f32, seed);
    }
    // Other devices and dtypes: the same mask, made on the host, so a run's masks do not
    // depend on where it runs.
    let mask = cpu::dropout::mask(seed, p as f32, xs.elem_count());
    let mask = Tensor::from_vec(mask, xs.shape(), &candle_core::Device::Cpu)?
        .to_device(xs.device())?
        .to_dtype(xs.dtype())?;
    xs * mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use candle_core::{DType, Device, Var};

    #[test]
    fn drops_the_requested_share_and_scales_the_rest() -> Result<()> {
        let x = Var::from_tensor(&Tensor::ones((300, 1000), DType::F32, &Device::Cpu)?)?;
        let y = dropout(&x, 0.1, true)?;
        let values = y.flatten_all()?.to_vec1::<f32>()?;
        let dropped = values.iter().filter(|v| **v == 0.0).count() as f64 / values.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "{dropped}");
        assert!(values
            .iter()
            .all(|v| *v == 0.0 || (*v - 1.0 / 0.9).abs() < 1e-6));
        // the gradient goes through the same mask
        let weights = random_normal((300, 1000), 0.0, 1.0, 3);
        let grads = (&y * &weights)?.sum_all()?.backward()?;
        let want = (weights * &y)?;
        let diff = max_abs_diff(grads.get(&x).expect("grad"), &want)?;
        assert_eq!(diff, 0.0);
        assert_eq!(
            dropout(&x, 0.1, false)?.to_vec2::<f32>()?,
            x.to_vec2::<f32>()?
        );
        Ok(())
    }

    /// Same scope → same masks, module by module; another step, micro-batch or seed → others.
    /// The f64 path (host-made mask) gives the CPU kernel's mask.
    #[test]
    fn masks_are_addressed_by_seed_step_micro_batch_and_module() -> Result<()> {
        let x = Tensor::ones((64, 300), DType::F32, &Device::Cpu)?;
        let masks = |seed, step, micro| -> Result<Vec<Vec<f32>>> {
            let _scope = scope(seed, step, micro);
            (0..3)
                .map(|_| dropout(&x, 0.3, true)?.flatten_all()?.to_vec1::<f32>())
                .collect()
        };
        let first = masks(5, 10, 0)?;
        assert_eq!(first, masks(5, 10, 0)?);
        assert_ne!(first[0], first[1], "modules differ");
        for other in [masks(5, 11, 0)?, masks(5, 10, 1)?, masks(6, 10, 0)?] {
            assert_ne!(first[0], other[0]);
        }
        let wide = {
            let _scope = scope(5, 10, 0);
            dropout(&x.to_dtype(DType::F64)?, 0.3, true)?
        };
        assert_eq!(
            wide.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
            first[0]
        );
        Ok(())
    }
}
