//! The LoRA adapter on one linear layer: y += (α/r)·B(A(dropout(x))).
use super::cpu;
use candle_core::{DType, Device, Result, Tensor, Var};

/// Rank, scaling numerator and input dropout of an adapter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdapterShape {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f32,
}

pub struct LoraAdapter {
    /// r × in
    pub a: Var,
    /// out × r
    pub b: Var,
    pub scale: f64,
    pub dropout: f32,
}

impl LoraAdapter {
    /// PEFT's default initialisation: A Kaiming-uniform (a = √5), B zeros.
    pub fn init(
        in_features: usize,
        out_features: usize,
        shape: &AdapterShape,
        dtype: DType,
        device: &Device,
        rng: &mut crate::rng::Stream,
    ) -> Result<Self> {
        // kaiming_uniform_(a=√5): bound = gain·√(3/fan_in), gain = √(2/(1+a²)) ⇒ bound = 1/√fan_in
        let bound = 1.0 / (in_features as f64).sqrt();
        let r = shape.r;
        let values: Vec<f32> = (0..r * in_features)
            .map(|_| rng.uniform_in(-bound, bound) as f32)
            .collect();
        let a = Tensor::from_vec(values, (r, in_features), device)?.to_dtype(dtype)?;
        let b = Tensor::zeros((out_features, r), dtype, device)?;
        Self::from_tensors(a, b, shape.alpha, shape.dropout)
    }

    pub fn from_tensors(a: Tensor, b: Tensor, alpha: f64, dropout: f32) -> Result<Self> {
        let r = a.dim(0)?;
        Ok(Self {
            a: Var::from_tensor(&a)?,
            b: Var::from_tensor(&b)?,
            scale: alpha / r as f64,
            dropout,
        })
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_masked(xs, self.dropout_seed(train))
    }

    /// The seed of this call's dropout mask (from the trainer's scope), `None` when no dropout
    /// applies. One draw per call, whichever kernel then runs it.
    pub(crate) fn dropout_seed(&self, train: bool) -> Option<u64> {
        (train && self.dropout > 0.0).then(super::dropout::next_seed)
    }

    /// The adapter's output with the dropout mask of `seed` (none without).
    pub(crate) fn forward_masked(&self, xs: &Tensor, seed: Option<u64>) -> Result<Tensor> {
        let xs = match seed {
            Some(seed) => super::dropout::masked(xs, self.dropout as f64, seed)?,
            None => xs.clone(),
        };
        let in_features = self.a.dim(1)?;
        let rows = xs.elem_count() / in_features;
        let mut dims = xs.dims().to_vec();
        let out_features = self.b.dim(0)?;
        *dims.last_mut().unwrap_or(&mut 0) = out_features;
        let hidden = xs.reshape((rows, in_features))?.matmul(&self.a.t()?)?;
        // scaling the small B instead of the (rows × out) product saves a pass each way
        hidden
            .matmul(&(self.b.as_tensor() * self.scale)?.t()?)?
            .reshape(dims)
    }

    /// The adapter as the fused linear kernel takes it, with the dropout mask of `seed` (none
    /// without).
    pub(crate) fn for_kernel(&self, seed: Option<u64>) -> cpu::lora_linear::Adapter<'_> {
        cpu::lora_linear::Adapter {
            a: self.a.as_tensor(),
            b: self.b.as_tensor(),
            scale: self.scale,
            dropout: if seed.is_some() { self.dropout } else { 0.0 },
            seed: seed.unwrap_or(0),
        }
    }

    /// (α/r)·B·A, shaped like the wrapped weight.
    pub fn delta_weight(&self) -> Result<Tensor> {
        self.b.matmul(self.a.as_tensor())? * self.scale
    }
}
