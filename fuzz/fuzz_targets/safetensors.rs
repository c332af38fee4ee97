//! safetensors files: header (JSON with dtypes, shapes, offsets) and tensor data, read as
//! model weights and adapters are read.
#![no_main]
use candle_core::{DType, Device};
use libfuzzer_sys::fuzz_target;
use loratune::nn::Weights;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let _ = Weights::from_safetensors_bytes(
        data,
        PathBuf::from("model.safetensors"),
        DType::F32,
        &Device::Cpu,
    );
});
