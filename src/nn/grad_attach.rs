//! Fast forward kernels that have no backward in candle, given one.
//!
//! candle's fused softmax and norm kernels cut the autograd graph silently. Here the
//! fused kernel runs on a detached input, and a custom op re-attaches the result to the
//! graph with an explicit gradient written in tensor ops. Without gradient tracking the
//! kernel's output is returned as is.
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor};
use std::sync::Mutex;

/// The gradient of a fused op: from the input, the output and the output's gradient.
pub trait InputGrad: Send + Sync + 'static {
    fn input_grad(&self, input: &Tensor, output: &Tensor, grad_output: &Tensor) -> Result<Tensor>;
}

pub fn with_input_grad<G: InputGrad>(
    input: &Tensor,
    fused: impl FnOnce(&Tensor) -> Result<Tensor>,
    grad: G,
) -> Result<Tensor> {
    if !input.track_op() {
        return fused(input);
    }
    let output = fused(&input.detach())?;
    input.apply_op1(Attach {
        output: Mutex::new(Some(output)),
        grad,
    })
}

struct Attach<G> {
    output: Mutex<Option<Tensor>>,
    grad: G,
}

impl<G> Attach<G> {
    fn take_output(&self) -> Result<Tensor> {
        self.output
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned lock".into()))?
            .take()
            .ok_or_else(|| candle_core::Error::Msg("fused op output taken twice".into()))
    }
}

impl<G: InputGrad> CustomOp1 for Attach<G> {
    fn name(&self) -> &'static str {
        "attach-grad"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let output = self.take_output()?.contiguous()?;
        let (storage, layout) = output.storage_and_layout();
        match &*storage {
            Storage::Cpu(s) if layout.start_offset() == 0 => {
                Ok((s.try_clone(layout)?, layout.shape().clone()))
            }
            _ => candle_core::bail!("attach-grad: device mismatch"),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let output = self.take_output()?.contiguous()?;
        let (storage, layout) = output.storage_and_layout();
        match &*storage {
            Storage::Cuda(s) if layout.start_offset() == 0 => {
                Ok((s.try_clone(layout)?, layout.shape().clone()))
            }
            _ => candle_core::bail!("attach-grad: device mismatch"),
        }
    }

    fn bwd(&self, input: &Tensor, output: &Tensor, grad_output: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.grad.input_grad(input, output, grad_output)?))
    }
}
