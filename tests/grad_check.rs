//! Finite-difference checks of the public layers whose backward pass we wrote ourselves (the
//! kernels' own checks are unit tests in src/nn).
use candle_core::{DType, Device, Tensor};

/// What the included file reaches as `crate::rng`.
mod rng {
    pub use loratune::rng::{Purpose, Stream};
}
#[path = "../src/nn/finite_difference.rs"]
mod finite_difference;
use finite_difference::{check, random};

#[test]
fn rms_norm_backward() {
    let w = random(&[6], 6);
    let weights = loratune::nn::Weights::from_tensors(
        [("n.weight".to_string(), w)].into_iter().collect(),
        "test".into(),
        DType::F64,
        &Device::Cpu,
    );
    let norm = loratune::nn::norm::RmsNorm::load(&weights, "n", 6, 1e-6).unwrap();
    check(|x| norm.forward(x), &[2, 3, 6]);
}

#[test]
fn layer_norm_backward() {
    let weights = loratune::nn::Weights::from_tensors(
        [
            ("n.weight".to_string(), random(&[6], 7)),
            ("n.bias".to_string(), random(&[6], 8)),
        ]
        .into_iter()
        .collect(),
        "test".into(),
        DType::F64,
        &Device::Cpu,
    );
    let norm = loratune::nn::norm::LayerNorm::load(&weights, "n", 6, 1e-12).unwrap();
    check(|x| norm.forward(x), &[2, 3, 6]);
}

#[test]
fn cross_entropy_backward() {
    let targets = Tensor::new(&[[1u32, 0, 4], [2, 2, 3]], &Device::Cpu).unwrap();
    check(
        |x| loratune::nn::loss::token_nll(x, &targets).and_then(|t| t.to_dtype(DType::F64)),
        &[2, 3, 5],
    );
}
