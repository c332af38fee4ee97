//! A frozen linear layer with its LoRA adapter as one op on the CPU in f32:
//! y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ, with a backward pass giving x, A and B their gradients.
//!
//! As a chain of candle ops this is eight graph nodes, each of which costs full passes over the
//! (rows × features) activations forward and backward (candle seeds every gradient with a zeroed
//! tensor and adds into it). Here the bias and the adapter's product accumulate into the output
//! of the main matmul, and the adapter's input gradient accumulates into the main one. The small
//! `drop(x)·Aᵀ` is kept for the backward pass; the dropout mask is regenerated from its seed.
use super::dropout::{add_masked, apply_mask};
use super::gemm::{matmul, Operand, Product};
use super::saved::Saved;
use super::{all_cpu_f32, with_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::borrow::Cow;

struct LoraLinear {
    /// out × in, frozen
    weight: Tensor,
    /// out, frozen
    bias: Option<Tensor>,
    scale: f32,
    /// 0 outside training
    dropout: f32,
    seed: u64,
    /// drop(x)·Aᵀ (rows × r), kept from forward to backward
    hidden: Saved<Vec<f32>>,
}

/// Sizes: rows, in features, out features, rank.
struct Dims {
    m: usize,
    k: usize,
    n: usize,
    r: usize,
}

fn dims(x: &Layout, a: &Layout, b: &Layout) -> Result<Dims> {
    let (r, k) = a.shape().dims2()?;
    let (n, rb) = b.shape().dims2()?;
    if x.dims().last() != Some(&k)
        || rb != r
        || !x.is_contiguous()
        || !a.is_contiguous()
        || !b.is_contiguous()
    {
        candle_core::bail!(
            "lora linear: x {:?}, A {:?}, B {:?}",
            x.shape(),
            a.shape(),
            b.shape()
        );
    }
    Ok(Dims {
        m: x.shape().elem_count() / k.max(1),
        k,
        n,
        r,
    })
}

impl LoraLinear {
    fn dropped<'a>(&self, x: &'a [f32]) -> Cow<'a, [f32]> {
        if self.dropout > 0.0 {
            Cow::Owned(apply_mask(self.seed, self.dropout, x))
        } else {
            Cow::Borrowed(x)
        }
    }
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "lora-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Dims { m, k, n, r } = dims(xl, al, bl)?;
        let x = &xs.as_slice::<f32>()?[xl.start_offset()..][..m * k];
        let a = &as_.as_slice::<f32>()?[al.start_offset()..][..r * k];
        let b = &bs.as_slice::<f32>()?[bl.start_offset()..][..n * r];
        let mut y = vec![0f32; m * n];
        let main = match &self.bias {
            Some(bias) => {
                with_f32(bias, |bd| {
                    let bd = &bd[bias.layout().start_offset()..][..n];
                    y.chunks_exact_mut(n)
                        .for_each(|row| row.copy_from_slice(bd));
                    Ok(())
                })?;
                Product::PARALLEL.accumulating()
            }
            None => Product::PARALLEL,
        };
        let xd = self.dropped(x);
        let mut hidden = vec![0f32; m * r];
        with_f32(&self.weight, |wd| {
            let w = &wd[self.weight.layout().start_offset()..][..n * k];
            // SAFETY: every operand is a contiguous buffer of the stated size.
            unsafe {
                matmul(
                    y.as_mut_ptr(),
                    n,
                    Operand::dense(x, m, k),
                    Operand::dense(w, n, k).t(),
                    main,
                );
                matmul(
                    hidden.as_mut_ptr(),
                    r,
                    Operand::dense(&xd, m, k),
                    Operand::dense(a, r, k).t(),
                    Product::PARALLEL,
                );
                let lora = Product::PARALLEL.scaled(self.scale).accumulating();
                matmul(
                    y.as_mut_ptr(),
                    n,
                    Operand::dense(&hidden, m, r),
                    Operand::dense(b, n, r).t(),
                    lora,
                );
            }
            Ok(())
        })?;
        self.hidden.keep(hidden)?;
        let mut shape = xl.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let hidden = self.hidden.take()?;
        let grad = grad.contiguous()?;
        let Dims { m, k, n, r } = dims(x.layout(), a.layout(), b.layout())?;
        let mut grad_a = vec![0f32; r * k];
        let mut grad_b = vec![0f32; n * r];
        let mut grad_x = x.track_op().then(|| vec![0f32; m * k]);
        with_f32(x, |xd| {
            with_f32(a, |ad| {
                with_f32(b, |bd| {
                    with_f32(&grad, |gd| {
                        with_f32(&self.weight, |wd| {
                            let x = &xd[x.layout().start_offset()..][..m * k];
                            let a = &ad[a.layout().start_offset()..][..r * k];
                            let b = &bd[b.layout().start_offset()..][..n * r];
                            let g = &gd[grad.layout().start_offset()..][..m * n];
                            let w = &wd[self.weight.layout().start_offset()..][..n * k];
                            let mut grad_hidden = vec![0f32; m * r];
                            let scaled = Product::PARALLEL.scaled(self.scale);
                            // SAFETY: every operand is a contiguous buffer of the stated size.
                            unsafe {
                                // dB = s·gᵀ·h, dh = s·g·B, dA = dhᵀ·drop(x)
                                matmul(
                                    grad_b.as_mut_ptr(),
                                    r,
                                    Operand::dense(g, m, n).t(),
                                    Operand::dense(&hidden, m, r),
                                    scaled,
                                );
                                matmul(
                                    grad_hidden.as_mut_ptr(),
                                    r,
                                    Operand::dense(g, m, n),
                                    Operand::dense(b, n, r),
                                    scaled,
                                );
                                let xd = self.dropped(x);
                                matmul(
                                    grad_a.as_mut_ptr(),
                                    k,
                                    Operand::dense(&grad_hidden, m, r).t(),
                                    Operand::dense(&xd, m, k),
                                    Product::PARALLEL,
                                );
                            }
                            if let Some(dx) = grad_x.as_mut() {
                                // dx = g·W + drop'(dh·A)
                                unsafe {
                                    matmul(
                                        dx.as_mut_ptr(),
                                        k,
                                        Operand::dense(g, m, n),
                                        Operand::dense(w, n, k),
                                        Product::PARALLEL,
                                    );
                                }
                                let through_adapter =
                                    (Operand::dense(&grad_hidden, m, r), Operand::dense(a, r, k));
                                if self.dropout > 0.0 {
                                    let mut part = vec![0f32; m * k];
                                    unsafe {
                                        matmul(
                                            part.as_mut_ptr(),
                                            k,
                                            through_adapter.0,
                                            through_adapter.1,
                                            Product::PARALLEL,
                                        );
                                    }
                                    add_masked(self.seed, self.dropout, dx, &part);
                                } else {
                                    unsafe {
                                        let acc = Product::PARALLEL.accumulating();
                                        matmul(
                                            dx.as_mut_ptr(),
                                            k,
                                            through_adapter.0,
                                            through_adapter.1,
                                            acc,
                                        );
                                    }
                                }
                            }
                            Ok(())
                        })
                    })
                })
            })
        })?;
        let device = x.device();
        Ok((
            grad_x
                .map(|dx| Tensor::from_vec(dx, x.shape(), device))
                .transpose()?,
            Some(Tensor::from_vec(grad_a, a.shape(), device)?),
            Some(Tensor::from_vec(grad_b, b.shape(), device)?),
        ))
    }
}

/// A LoRA adapter as the kernel sees it.
pub struct Adapter<'a> {
    /// r × in
    pub a: &'a Tensor,
    /// out × r
    pub b: &'a Tensor,
    /// α/r
    pub scale: f64,
    /// The input dropout to apply: 0 outside training.
    pub dropout: f32,
    /// The dropout mask's seed.
    pub seed: u64,
}

/// `x·Wᵀ + b + adapter(x)` as one op, or `None` when it does not apply (another device or
/// dtype, or a weight or bias that trains).
pub fn forward(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    adapter: Adapter,
) -> Result<Option<Tensor>> {
    let (a, b) = (adapter.a, adapter.b);
    let mut inputs = vec![xs, weight, a, b];
    inputs.extend(bias);
    let rows = xs.elem_count() / a.dim(1)?.max(1);
    // a few rows (a decoding step) go faster through the skinny kernel of the unfused path
    if !all_cpu_f32(&inputs)
        || weight.track_op()
        || bias.is_some_and(Tensor::track_op)
        || rows <= super::skinny::MAX_ROWS
    {
        return Ok(None);
    }
    let dropout = adapter.dropout;
    let op = LoraLinear {
        weight: weight.contiguous()?,
        bias: bias.map(Tensor::contiguous).transpose()?,
        scale: adapter.scale as f32,
        dropout,
        seed: adapter.seed,
        hidden: Saved::new("lora linear"),
    };
    Ok(Some(xs.contiguous()?.apply_op3(
        &a.contiguous()?,
        &b.contiguous()?,
        op,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::finite_difference::{max_abs_diff, random_normal};
    use crate::nn::LoraAdapter;
    use candle_core::{Device, Var};

    #[test]
    fn output_and_gradients_match_the_op_chain() -> Result<()> {
        let w = random_normal((6, 5), 0.0, 0.5, 1);
        let bias = random_normal(6, 0.0, 0.5, 2);
        for with_bias in [false, true] {
            let adapter = LoraAdapter::from_tensors(
                random_normal((3, 5), 0.0, 0.5, 3),
                random_normal((6, 3), 0.0, 0.5, 4),
                6.0,
                0.0,
            )?;
            let x = Var::from_tensor(&random_normal((2, 24, 5), 0.0, 1.0, 5))?;
            let bias = with_bias.then_some(&bias);
            let fused = forward(&x, &w, bias, adapter.for_kernel(None))?.expect("applies");
            let mut chain = (x.broadcast_matmul(&w.t()?)? + adapter.forward(&x, true)?)?;
            if let Some(b) = bias {
                chain = chain.broadcast_add(b)?;
            }
            assert!(max_abs_diff(&fused, &chain)? < 1e-5, "forward");
            let g = random_normal(fused.shape(), 0.0, 1.0, 6);
            let g1 = (fused * &g)?.sum_all()?.backward()?;
            let g2 = (chain * &g)?.sum_all()?.backward()?;
            for v in [&x, &adapter.a, &adapter.b] {
                let d = max_abs_diff(g1.get(v).expect("grad"), g2.get(v).expect("grad"))?;
                assert!(d < 1e-4, "gradient: {d}");
            }
        }
        Ok(())
    }

    #[test]
    fn dropout_gradients_use_the_forward_mask() -> Result<()> {
        // With dropout, the gradient of A must be (s·g·B)ᵀ·drop(x) for the mask the forward used:
        // check it against a finite difference of the same op (same seed).
        let dev = Device::Cpu;
        let w = random_normal((4, 64), 0.0, 0.5, 7);
        let a = Var::from_tensor(&random_normal((2, 64), 0.0, 0.5, 8))?;
        let b = random_normal((4, 2), 0.0, 0.5, 9);
        let x = random_normal((8, 64), 0.0, 1.0, 10);
        let g = random_normal((8, 4), 0.0, 1.0, 11);
        let op = || LoraLinear {
            weight: w.clone(),
            bias: None,
            scale: 2.0,
            dropout: 0.5,
            seed: 9,
            hidden: Saved::new("lora linear"),
        };
        let value = |a: &Tensor| -> Result<f64> {
            x.apply_op3(a, &b, op())?
                .mul(&g)?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()
        };
        let grads = x
            .apply_op3(a.as_tensor(), &b, op())?
            .mul(&g)?
            .sum_all()?
            .backward()?;
        let analytic = grads
            .get(&a)
            .expect("grad")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let base = a.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        for i in [0, 7, 64, 100] {
            let at = |delta: f32| -> Result<f64> {
                let mut v = base.clone();
                v[i] += delta;
                value(&Tensor::from_vec(v, (2, 64), &dev)?)
            };
            let numeric = (at(1e-2)? - at(-1e-2)?) / 2e-2;
            assert!(
                (numeric - analytic[i] as f64).abs() < 1e-2 * (1.0 + numeric.abs()),
                "{i}: {numeric} vs {}",
                analytic[i]
            );
        }
        Ok(())
    }
}
