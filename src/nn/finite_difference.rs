//! Finite-difference checks of gradients, for the tests of the layers whose backward pass we
//! wrote ourselves: the unit tests of nn's kernels, and tests/grad_check.rs (which includes this
//! file) for the public layers; and the largest difference of two f32 tensors, for the unit
//! tests that compare a kernel with the candle ops it replaces.
use crate::rng::{Purpose, Stream};
use candle_core::{Device, Tensor, Var};

/// The largest |x| of an f32 tensor.
#[allow(dead_code)] // tests/grad_check.rs includes this file for `check` and `random` only
pub fn max_abs(t: &Tensor) -> candle_core::Result<f32> {
    t.abs()?.max_all()?.to_scalar::<f32>()
}

/// max |a − b| over all elements of two f32 tensors of one shape.
#[allow(dead_code)] // as `max_abs`
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> candle_core::Result<f32> {
    max_abs(&(a - b)?)
}

/// f32 values (on the CPU) drawn from normal(mean, std) by a seeded generator, so that a test
/// sees the same inputs on every run: the unit tests' only source of random tensors (candle's
/// `Tensor::randn` draws from an unseeded thread generator on the CPU).
#[allow(dead_code)] // as `max_abs`
pub fn random_normal(
    shape: impl Into<candle_core::Shape>,
    mean: f32,
    std: f32,
    seed: u64,
) -> Tensor {
    let shape: candle_core::Shape = shape.into();
    let mut rng = Stream::new(seed, Purpose::Synthetic, [0; 3]);
    let v: Vec<f32> = (0..shape.elem_count())
        .map(|_| (mean as f64 + std as f64 * rng.normal()) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("shape matches")
}

pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Stream::new(seed, Purpose::Synthetic, [0; 3]);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Compares the analytic gradient of sum(f(x) * probe) with central differences.
pub fn check(f: impl Fn(&Tensor) -> candle_core::Result<Tensor>, shape: &[usize]) {
    let x = Var::from_tensor(&random(shape, 1)).unwrap();
    let probe = random(f(x.as_tensor()).unwrap().dims(), 2);
    let objective = |t: &Tensor| {
        (f(t).unwrap() * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let grads = (f(x.as_tensor()).unwrap() * &probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let analytic: Vec<f64> = grads
        .get(&x)
        .expect("no gradient reached the input")
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let base: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
    let eps = 1e-6;
    for i in 0..base.len() {
        let mut plus = base.clone();
        plus[i] += eps;
        let mut minus = base.clone();
        minus[i] -= eps;
        let fp = objective(&Tensor::from_vec(plus, shape, &Device::Cpu).unwrap());
        let fm = objective(&Tensor::from_vec(minus, shape, &Device::Cpu).unwrap());
        let numeric = (fp - fm) / (2.0 * eps);
        let err = (numeric - analytic[i]).abs() / numeric.abs().max(1e-3);
        assert!(
            err < 1e-5,
            "element {i}: numeric {numeric} analytic {}",
            analytic[i]
        );
    }
}
