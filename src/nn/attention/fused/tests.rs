use super::*;
use crate::nn::attention::{self as dispatcher, reference, Kernel};
use crate::nn::finite_difference::{max_abs, max_abs_diff, random_normal};
use candle_core::backprop::GradStore;
use candle_core::{Device, Var};

/// max |a − b| relative to max |b| (at least 1e-6).
fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let scale = max_abs(b).unwrap().max(1e-6);
    max_abs_diff(a, b).unwrap() / scale
}

/// Projections q, k, v attended without dropout.
fn projected<'a>(
    q: &'a Tensor,
    k: &'a Tensor,
    v: &'a Tensor,
    heads: usize,
    bias: Option<&'a Tensor>,
    scale: f64,
) -> AttentionInputs<'a> {
    AttentionInputs {
        q,
        k,
        v,
        heads: Heads::Projected(heads),
        bias,
        scale,
        dropout: 0.0,
        train: false,
    }
}

/// Attends through this kernel (checked to qualify) and as the chain of candle ops, checks
/// the fused output against the graph's and returns both sides' gradients of
/// Σ output·weights.
fn gradients(inputs: &AttentionInputs, weights: &Tensor) -> Result<(GradStore, GradStore)> {
    let kernel = Kernel::choose(inputs)?;
    assert!(matches!(kernel, Some(Kernel::Fused { .. })), "qualifies");
    let fast = dispatcher::attend(inputs)?;
    let slow = reference::attend(inputs)?;
    assert!(
        max_diff(&fast, &slow) < 1e-5,
        "forward: {}",
        max_diff(&fast, &slow)
    );
    Ok((
        (fast * weights)?.sum_all()?.backward()?,
        (slow * weights)?.sum_all()?.backward()?,
    ))
}

/// q, k, v as (batch, time, heads·dim) projections, as the models pass them.
fn heads(b: usize, t: usize, h: usize, d: usize, seed: u64) -> Var {
    Var::from_tensor(&random_normal((b, t, h * d), 0.0, 1.0, seed)).unwrap()
}

#[test]
fn forward_and_gradients_match_the_graph_version() -> Result<()> {
    let dev = Device::Cpu;
    let (b, h, d) = (2, 3, 8);
    for (tq, tk) in [(5, 5), (4, 7)] {
        let mut pad = vec![0f32; b * tk];
        pad[tk - 1] = f32::MIN;
        let pad = Tensor::from_vec(pad, (b, 1, 1, tk), &dev)?;
        let pos = random_normal((1, h, tq, tk), 0.0, 1.0, 2);
        for (bias, scale) in [(None, 1.0), (Some(&pad), 0.35), (Some(&pos), 1.0)] {
            let (qv, kv, vv) = (
                heads(b, tq, h, d, 11),
                heads(b, tk, h, d, 12),
                heads(b, tk, h, d, 13),
            );
            let weights = random_normal((b, tq, h * d), 0.0, 1.0, 3);
            let inputs = projected(&qv, &kv, &vv, h, bias, scale);
            let (fast_grads, slow_grads) = gradients(&inputs, &weights)?;
            for x in [&qv, &kv, &vv] {
                let (g1, g2) = (
                    fast_grads.get(x).expect("grad"),
                    slow_grads.get(x).expect("grad"),
                );
                assert!(
                    max_diff(g1, g2) < 1e-5,
                    "gradient {tq}x{tk}: {}",
                    max_diff(g1, g2)
                );
            }
        }
    }
    Ok(())
}

#[test]
fn strided_projections_read_in_place() -> Result<()> {
    // q, k, v as column slices of one (batch, time, 3·heads·dim) projection
    let (b, t, h, d) = (2, 6, 2, 4);
    let qkv = Var::from_tensor(&random_normal((b, t, 3 * h * d), 0.0, 1.0, 4))?;
    let part = |i: usize| qkv.narrow(2, i * h * d, h * d).unwrap();
    let weights = random_normal((b, t, h * d), 0.0, 1.0, 5);
    let (q, k, v) = (part(0), part(1), part(2));
    let (fast_grads, slow_grads) = gradients(&projected(&q, &k, &v, h, None, 0.5), &weights)?;
    let (g1, g2) = (
        fast_grads.get(&qkv).expect("grad"),
        slow_grads.get(&qkv).expect("grad"),
    );
    assert!(max_diff(g1, g2) < 1e-5, "gradient {}", max_diff(g1, g2));
    Ok(())
}

#[test]
fn inputs_off_the_graph_get_no_gradient_and_the_others_stay_exact() -> Result<()> {
    let (b, t, h, d) = (2, 5, 3, 8);
    let weights = random_normal((b, t, h * d), 0.0, 1.0, 6);
    for tracked in [
        [true, false, false],
        [false, true, true],
        [false, false, true],
    ] {
        let vars: Vec<Var> = (0..3).map(|i| heads(b, t, h, d, 14 + i)).collect();
        let inputs: Vec<Tensor> = vars
            .iter()
            .zip(tracked)
            .map(|(v, on)| {
                if on {
                    v.as_tensor().clone()
                } else {
                    v.as_tensor().detach()
                }
            })
            .collect();
        let attention = projected(&inputs[0], &inputs[1], &inputs[2], h, None, 0.35);
        let (fast_grads, slow_grads) = gradients(&attention, &weights)?;
        for (var, on) in vars.iter().zip(tracked) {
            assert_eq!(fast_grads.get(var).is_some(), on);
            if on {
                assert!(
                    max_diff(
                        fast_grads.get(var).expect("grad"),
                        slow_grads.get(var).expect("grad")
                    ) < 1e-5
                );
            }
        }
    }
    Ok(())
}

#[test]
fn dropout_gradient_matches_finite_differences() -> Result<()> {
    let dev = Device::Cpu;
    let (b, h, t, d) = (1, 2, 6, 4);
    let q = random_normal((b, h, t, d), 0.0, 1.0, 7);
    let k = random_normal((b, h, t, d), 0.0, 1.0, 8);
    let v = random_normal((b, h, t, d), 0.0, 1.0, 9);
    let weights = random_normal((b, t, h, d), 0.0, 1.0, 10);
    let op = |save| FusedAttention {
        heads: h,
        bias: None,
        scale: 0.5,
        dropout: 0.3,
        seed: 42,
        save,
        probs: Saved::new("attention"),
    };
    let objective = |q: &Tensor| -> Result<f64> {
        q.apply_op3(&k, &v, op(false))?
            .mul(&weights)?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()
    };
    let qv = Var::from_tensor(&q)?;
    let out = qv.as_tensor().apply_op3(&k, &v, op(true))?;
    let zeros = out
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .filter(|x| **x == 0.0)
        .count();
    assert!(zeros == 0, "dropout applies to probabilities, not outputs");
    let grads = (out * &weights)?.sum_all()?.backward()?;
    let analytic = grads
        .get(&qv)
        .expect("grad")
        .flatten_all()?
        .to_vec1::<f32>()?;
    let base = q.flatten_all()?.to_vec1::<f32>()?;
    for (i, want) in analytic.iter().enumerate().step_by(5) {
        let eps = 1e-2f32;
        let shifted = |delta: f32| -> Result<f64> {
            let mut x = base.clone();
            x[i] += delta;
            objective(&Tensor::from_vec(x, q.shape(), &dev)?)
        };
        let numeric = (shifted(eps)? - shifted(-eps)?) / (2.0 * eps as f64);
        assert!(
            (numeric - *want as f64).abs() < 2e-3 * (1.0 + numeric.abs()),
            "element {i}: {numeric} vs {want}"
        );
    }
    Ok(())
}
