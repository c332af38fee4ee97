//! A named linear layer that a LoRA adapter can wrap.
use super::cpu;
use super::cpu::frozen_matmul::frozen_matmul;
use super::lora::LoraAdapter;
use super::param::Param;
use super::weights::Weights;
use candle_core::{Result, Tensor};

pub struct Linear {
    /// Full dotted module name, as in the Transformers model (`encoder.block.0.layer.0.SelfAttention.q`).
    pub name: String,
    pub weight: Param,
    pub bias: Option<Param>,
    pub adapter: Option<LoraAdapter>,
}

impl Linear {
    pub fn load(
        weights: &Weights,
        name: &str,
        in_features: usize,
        out_features: usize,
        with_bias: bool,
    ) -> crate::error::Result<Self> {
        let weight = weights.get(&format!("{name}.weight"), &[out_features, in_features])?;
        let bias = if with_bias {
            Some(Param::frozen(
                weights.get(&format!("{name}.bias"), &[out_features])?,
            ))
        } else {
            None
        };
        Ok(Self::new(name, weight, bias))
    }

    pub fn new(name: &str, weight: Tensor, bias: Option<Param>) -> Self {
        Self {
            name: name.to_string(),
            weight: Param::frozen(weight),
            bias,
            adapter: None,
        }
    }

    pub fn in_features(&self) -> usize {
        self.weight.tensor().dims()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.tensor().dims()[0]
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let ys = self.compute(xs, train)?;
        super::finite_check::inspect(&self.name, &ys)?;
        Ok(ys)
    }

    fn compute(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let w = self.weight.tensor();
        let bias = self.bias.as_ref().map(Param::tensor);
        let seed = self.adapter.as_ref().and_then(|a| a.dropout_seed(train));
        if let Some(adapter) = &self.adapter {
            let fused = cpu::lora_linear::forward(xs, &w, bias.as_ref(), adapter.for_kernel(seed))?;
            if let Some(ys) = fused {
                return Ok(ys);
            }
        }
        let mut ys = match &self.weight {
            Param::Frozen(_) => frozen_matmul(xs, &w, bias.as_ref())?,
            Param::Trainable(_) => match &bias {
                Some(b) => xs.broadcast_matmul(&w.t()?)?.broadcast_add(b)?,
                None => xs.broadcast_matmul(&w.t()?)?,
            },
        };
        if let Some(adapter) = &self.adapter {
            ys = (ys + adapter.forward_masked(xs, seed)?)?;
        }
        Ok(ys)
    }

    /// A trainable copy of the weight and bias (PEFT's `modules_to_save`).
    pub fn make_trainable(&mut self) -> Result<()> {
        self.weight.make_trainable()?;
        if let Some(bias) = &mut self.bias {
            bias.make_trainable()?;
        }
        Ok(())
    }

    /// Folds the adapter into the weight: W' = W + (α/r)·B·A.
    pub fn merge_adapter(&mut self) -> Result<()> {
        if let Some(adapter) = self.adapter.take() {
            let merged = (self.weight.tensor() + adapter.delta_weight()?)?;
            self.weight.set(&merged)?;
        }
        Ok(())
    }
}
