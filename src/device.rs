//! Choosing the compute device and the floating-point type: the values of the recipe's
//! `train.device`, `train.precision` and `model.dtype` and of the `--device` / `--dtype` flags,
//! parsed once (on load) into enums.
use crate::error::Result;
use candle_core::{DType, Device};
use std::fmt;
use std::str::FromStr;

/// Where to compute: `auto`, `cpu`, `cuda` (GPU 0) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA when the binary was built with it and a GPU answers, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The CUDA device with this index (`cuda` is `cuda:0`).
    Cuda(usize),
}

const DEVICE_VALUES: &str = "auto, cpu, cuda, cuda:N (N: a GPU index)";

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(index) => index.parse().map(Self::Cuda).map_err(|_| {
                    format!(
                        "invalid device `{other}`: `{index}` is not a GPU index; valid values: {DEVICE_VALUES}"
                    )
                }),
                None => Err(format!(
                    "unknown device `{other}`; valid values: {DEVICE_VALUES}"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(0) => f.write_str("cuda"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The type model weights are converted to when loaded: `f32`, `bf16` or `f16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtypeChoice {
    #[default]
    F32,
    Bf16,
    F16,
}

impl DtypeChoice {
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
            Self::F16 => DType::F16,
        }
    }
}

impl FromStr for DtypeChoice {
    type Err = String;
    /// The canonical names, and Transformers' `float32` / `bfloat16` / `float16`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "f16" | "float16" => Ok(Self::F16),
            other => Err(format!(
                "unknown dtype `{other}`; valid values: f32, bf16, f16"
            )),
        }
    }
}

impl fmt::Display for DtypeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

/// The training precision: `f32`, `bf16` or `fp16` (as Transformers' `bf16` / `fp16` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Precision {
    #[default]
    F32,
    Bf16,
    Fp16,
}

impl Precision {
    pub(crate) fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
            Self::Fp16 => DType::F16,
        }
    }
}

impl FromStr for Precision {
    type Err = String;
    /// The canonical names; `f16`, `float32`, `bfloat16` and `float16` are read too.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "fp16" | "f16" | "float16" => Ok(Self::Fp16),
            other => Err(format!(
                "unknown precision `{other}`; valid values: f32, bf16, fp16"
            )),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
        })
    }
}

/// Serde through `FromStr` / `Display`: the recipe stores these as strings.
macro_rules! serde_as_string {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_as_string!(DeviceChoice, DtypeChoice, Precision);

/// The device a choice names. `auto` falls back to the CPU when no GPU answers; in a build
/// with CUDA support that fallback is reported (log warning and stderr).
/// A device as users write it (`cpu`, `cuda:0`, `metal:0`), for reports and messages.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(index) => Ok(Device::new_cuda(index)?),
        DeviceChoice::Auto => {
            if !candle_core::utils::cuda_is_available() {
                return Ok(Device::Cpu);
            }
            match Device::new_cuda(0) {
                Ok(device) => Ok(device),
                Err(e) => {
                    let message =
                        format!("device auto: no usable CUDA device ({e}); running on the CPU");
                    tracing::warn!("{message}");
                    eprintln!("warning: {message}");
                    Ok(Device::Cpu)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_as_users_write_them() {
        assert_eq!(device_name(&Device::Cpu), "cpu");
    }

    #[test]
    fn devices_parse_and_print_back() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:0", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap(), choice);
        }
        assert_eq!(DeviceChoice::Cuda(3).to_string(), "cuda:3");
        assert_eq!(DeviceChoice::Cuda(0).to_string(), "cuda");
        let err = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert!(
            err.contains("`gpu`") && err.contains("auto, cpu, cuda, cuda:N"),
            "{err}"
        );
        let err = "cuda:x".parse::<DeviceChoice>().unwrap_err();
        assert!(err.contains("`x` is not a GPU index"), "{err}");
        assert!("cuda:".parse::<DeviceChoice>().is_err());
        assert!("cuda:-1".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn dtypes_and_precisions() {
        assert_eq!("bf16".parse::<DtypeChoice>().unwrap().dtype(), DType::BF16);
        assert_eq!("float16".parse::<DtypeChoice>().unwrap(), DtypeChoice::F16);
        let err = "f64".parse::<DtypeChoice>().unwrap_err();
        assert!(err.contains("valid values: f32, bf16, f16"), "{err}");
        assert_eq!("fp16".parse::<Precision>().unwrap().dtype(), DType::F16);
        assert_eq!(Precision::Fp16.to_string(), "fp16");
        let err = "fp8".parse::<Precision>().unwrap_err();
        assert!(
            err.contains("`fp8`") && err.contains("f32, bf16, fp16"),
            "{err}"
        );
    }
}
