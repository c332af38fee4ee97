//! Activation functions named as in Transformers configs.
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
    pub fn from_name(name: &str) -> crate::Result<Self> {
        match name {
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "silu" | "swish" => Ok(Self::Silu),
            "tanh" => Ok(Self::Tanh),
            other => Err(crate::Error::Unsupported(format!(
                "activation '{other}' (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu, tanh)"
            ))),
        }
    }

    /// The fused CPU kernel computing this activation, if there is one.
    pub fn fast(&self) -> Option<super::cpu_f32::FastActivation> {
        match self {
            Self::GeluTanh => Some(super::cpu_f32::FastActivation::GeluTanh),
            Self::Silu => Some(super::cpu_f32::FastActivation::Silu),
            Self::Gelu => Some(super::cpu_f32::FastActivation::Gelu),
            _ => None,
        }
    }

    /// The activation with a gradient; on the CPU in f32 a parallel fused kernel.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if let Some(kind) = self.fast() {
            if let Some(ys) = super::activation_grad::activate(kind, xs)? {
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
}
