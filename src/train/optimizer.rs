//! AdamW exactly as `torch.optim.AdamW` (decoupled weight decay).
use candle_core::{DType, Result, Tensor, Var};

struct Slot {
    var: Var,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

pub struct AdamW {
    slots: Vec<Slot>,
    pub(crate) beta1: f64,
    pub(crate) beta2: f64,
    pub(crate) eps: f64,
    pub(crate) weight_decay: f64,
    /// Completed optimizer steps.
    pub(crate) step: usize,
}

impl AdamW {
    /// `params` are (name, variable); biases and norm weights get no weight decay, chosen by
    /// name as Transformers' Trainer does (see [`decays`]).
    pub fn new(
        params: &[(String, Var)],
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Result<Self> {
        let slots = params
            .iter()
            .map(|(name, var)| {
                Ok(Slot {
                    var: var.clone(),
                    m: var.zeros_like()?.to_dtype(DType::F32)?,
                    v: var.zeros_like()?.to_dtype(DType::F32)?,
                    decay: decays(name),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            beta1,
            beta2,
            eps,
            weight_decay,
            step: 0,
        })
    }

    /// One update with gradients in the order of the parameters.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        for (slot, grad) in self.slots.iter_mut().zip(grads) {
            let dtype = slot.var.dtype();
            let g = grad.detach().to_dtype(DType::F32)?;
            let mut p = slot.var.as_tensor().detach().to_dtype(DType::F32)?;
            if slot.decay && self.weight_decay != 0.0 {
                p = (p * (1.0 - lr * self.weight_decay))?;
            }
            slot.m = ((&slot.m * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            slot.v = ((&slot.v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let denom = ((slot.v.sqrt()? / bias2_sqrt)? + self.eps)?;
            let update = ((&slot.m / denom)? * (lr / bias1))?;
            slot.var.set(&(p - update)?.to_dtype(dtype)?)?;
        }
        Ok(())
    }

    /// Continues from a checkpoint: its moments (in parameter order) and completed steps.
    pub(crate) fn restore(&mut self, moments: Vec<(Tensor, Tensor)>, step: usize) -> Result<()> {
        for (slot, (m, v)) in self.slots.iter_mut().zip(moments) {
            slot.m = m.to_dtype(DType::F32)?;
            slot.v = v.to_dtype(DType::F32)?;
        }
        self.step = step;
        Ok(())
    }

    /// First and second moments, for checkpoints.
    pub(crate) fn state(&self) -> Vec<(Tensor, Tensor)> {
        self.slots
            .iter()
            .map(|s| (s.m.clone(), s.v.clone()))
            .collect()
    }
}

/// Whether weight decay applies to the parameter `name`: not to biases and norm weights, by the
/// name patterns of Transformers' `Trainer.get_decay_parameter_names` (`bias`, `layernorm`,
/// `rmsnorm`, a `norm` or `*_norm` path segment; case-insensitive). Its other exclusion, any
/// parameter of a `torch.nn.LayerNorm`, names the same tensors in our models (T5 `layer_norm`,
/// BERT `LayerNorm`, DistilBERT `sa_layer_norm`/`output_layer_norm`).
pub(crate) fn decays(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let excluded = ["bias", "layernorm", "rmsnorm"]
        .iter()
        .any(|p| name.contains(p))
        || name
            .split('.')
            .any(|segment| segment == "norm" || segment.ends_with("_norm"));
    !excluded
}

/// √Σ‖g‖² of `grads`, and the factor `torch.nn.utils.clip_grad_norm_` scales `scale · grads` by
/// (≤ 1; 1 when `max_norm` is 0).
pub(crate) fn clip_factor(grads: &[Tensor], max_norm: f64, scale: f64) -> Result<(f64, f64)> {
    let mut total = 0.0f64;
    for g in grads {
        total += g
            .to_dtype(DType::F32)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()? as f64;
    }
    let norm = total.sqrt();
    let factor = if max_norm > 0.0 {
        (max_norm / (norm * scale + 1e-6)).min(1.0)
    } else {
        1.0
    };
    Ok((norm, factor))
}

#[cfg(test)]
mod tests {
    use super::decays;

    #[test]
    fn no_decay_for_biases_and_norms_as_the_trainer() {
        for name in [
            "base_model.model.classifier.bias",
            "base_model.model.pre_classifier.bias",
            "base_model.model.bert.embeddings.LayerNorm.weight",
            "base_model.model.distilbert.transformer.layer.0.sa_layer_norm.weight",
            "base_model.model.encoder.block.0.layer.0.layer_norm.weight",
            "base_model.model.encoder.final_layer_norm.weight",
            "base_model.model.model.norm.weight",
        ] {
            assert!(!decays(name), "{name}");
        }
        for name in [
            "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight",
            "base_model.model.classifier.weight",
            "base_model.model.pre_classifier.weight",
            "base_model.model.normalizer.weight",
        ] {
            assert!(decays(name), "{name}");
        }
    }
}
