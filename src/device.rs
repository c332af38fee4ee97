//! Choosing the compute device and the floating-point type.
use crate::error::{Error, Result};
use candle_core::{DType, Device};

/// `auto` picks CUDA when the binary was built with it and a GPU answers, else the CPU.
pub fn select_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::new_cuda(0)?),
        "auto" => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
        other => Err(Error::Config(format!(
            "unknown device '{other}': expected auto, cpu or cuda"
        ))),
    }
}

pub fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        "f64" | "float64" => Ok(DType::F64),
        other => Err(Error::Config(format!(
            "unknown dtype '{other}': expected f32, bf16, f16 or f64"
        ))),
    }
}
