//! Finite-difference checks of the layers whose backward pass we wrote ourselves.
use candle_core::{DType, Device, Tensor, Var};
use loratune::nn::frozen_matmul::frozen_matmul;
use loratune::nn::softmax::softmax_last_dim;

fn random(shape: &[usize], seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Compares the analytic gradient of sum(f(x) * probe) with central differences.
fn check(f: impl Fn(&Tensor) -> candle_core::Result<Tensor>, shape: &[usize]) {
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

#[test]
fn softmax_backward() {
    check(softmax_last_dim, &[2, 3, 5]);
}

#[test]
fn frozen_matmul_backward_and_no_weight_gradient() {
    let w = random(&[4, 5], 3);
    check(|x| frozen_matmul(x, &w, None), &[2, 3, 5]);
}

#[test]
fn frozen_matmul_matches_plain_matmul() {
    let x = random(&[2, 3, 5], 4).to_dtype(DType::F32).unwrap();
    let w = random(&[4, 5], 5).to_dtype(DType::F32).unwrap();
    let ours = frozen_matmul(&x, &w, None).unwrap();
    let plain = x.broadcast_matmul(&w.t().unwrap()).unwrap();
    let diff = (ours - plain)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-6);
}

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
