//! Activation functions named as in Transformers configs.
use super::cpu;
use super::cpu::activation_formulas::FastActivation;
use candle_core::{Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// erf GELU (`gelu`)
    Gelu,
    /// tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`)
    GeluTanh,
    Silu,
    Tanh,
}

impl Activation {
    pub fn from_name(name: &str) -> crate::error::Result<Self> {
        match name {
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "silu" | "swish" => Ok(Self::Silu),
            "tanh" => Ok(Self::Tanh),
            other => Err(crate::error::Error::Unsupported(format!(
                "activation '{other}' (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu, tanh)"
            ))),
        }
    }

    /// The fused CPU kernel computing this activation, if there is one.
    fn fast(&self) -> Option<FastActivation> {
        match self {
            Self::GeluTanh => Some(FastActivation::GeluTanh),
            Self::Silu => Some(FastActivation::Silu),
            Self::Gelu => Some(FastActivation::Gelu),
            _ => None,
        }
    }

    /// The activation with a gradient; on the CPU in f32 a parallel fused kernel.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if let Some(kind) = self.fast() {
            if let Some(ys) = cpu::activation::with_gradient(kind, xs)? {
                return Ok(ys);
            }
        }
        match self {
            Self::Relu => xs.relu(),
            Self::Gelu => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Silu => xs.silu(),
            Self::Tanh => xs.tanh(),
        }
    }

    /// The activation, times `gate` if given (a gated feed-forward), where no gradient is needed
    /// (inference): on the CPU in f32 one parallel pass with the gate multiplied in, off the
    /// graph; elsewhere [`Self::forward`] (times the gate).
    pub fn forward_inference(&self, xs: &Tensor, gate: Option<&Tensor>) -> Result<Tensor> {
        if let Some(kind) = self.fast() {
            if let Some(ys) = cpu::activation::without_gradient(kind, xs, gate)? {
                return Ok(ys);
            }
        }
        match gate {
            Some(gate) => self.forward(xs)? * gate,
            None => self.forward(xs),
        }
    }
}
