//! The post-LayerNorm Transformer encoder shared by BERT and DistilBERT.
//!
//! Both models run the same computation per layer — self-attention with q/k/v/output
//! projections, residual + LayerNorm, a two-layer feed-forward with residual + LayerNorm —
//! and embed tokens as word + learned position (+ token type for BERT) → LayerNorm →
//! dropout. Only module names and a dropout placement differ; [`LayerNames`] carries them.
use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::attention::{attend, padding_bias, AttentionInputs, Heads};
use crate::nn::dropout::dropout;
use crate::nn::embedding::Embedding;
use crate::nn::norm::LayerNorm;
use crate::nn::Linear;
use crate::nn::Weights;
use candle_core::Tensor;

/// Module names inside one layer, relative to the layer's prefix.
pub(crate) struct LayerNames {
    pub(crate) query: &'static str,
    pub(crate) key: &'static str,
    pub(crate) value: &'static str,
    pub(crate) attention_output: &'static str,
    pub(crate) attention_norm: &'static str,
    pub(crate) ffn_in: &'static str,
    pub(crate) ffn_out: &'static str,
    pub(crate) ffn_norm: &'static str,
    /// BERT applies hidden dropout to the attention output before the residual; DistilBERT does not.
    pub(crate) attention_output_dropout: bool,
}

/// Sizes and rates of an encoder, whatever the config calls them.
#[derive(Debug, Clone)]
pub(crate) struct EncoderSpec {
    pub(crate) hidden: usize,
    pub(crate) heads: usize,
    pub(crate) intermediate: usize,
    pub(crate) layers: usize,
    pub(crate) activation: Activation,
    pub(crate) layer_norm_eps: f64,
    pub(crate) hidden_dropout: f64,
    pub(crate) attention_dropout: f64,
}

impl EncoderSpec {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Err(Error::Config(format!(
                "config.json: hidden size {} is not a multiple of the number of attention heads {}",
                self.hidden, self.heads
            )));
        }
        Ok(())
    }
}

pub(crate) struct EncoderLayer {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) attention_output: Linear,
    attention_norm: LayerNorm,
    pub(crate) ffn_in: Linear,
    pub(crate) ffn_out: Linear,
    ffn_norm: LayerNorm,
    heads: usize,
    scale: f64,
    activation: Activation,
    hidden_dropout: f64,
    attention_dropout: f64,
    attention_output_dropout: bool,
}

impl EncoderLayer {
    fn load(w: &Weights, prefix: &str, names: &LayerNames, spec: &EncoderSpec) -> Result<Self> {
        let (h, i) = (spec.hidden, spec.intermediate);
        let lin = |n: &str, fan_in, fan_out| {
            Linear::load(w, &format!("{prefix}.{n}"), fan_in, fan_out, true)
        };
        let norm = |n: &str| LayerNorm::load(w, &format!("{prefix}.{n}"), h, spec.layer_norm_eps);
        Ok(Self {
            query: lin(names.query, h, h)?,
            key: lin(names.key, h, h)?,
            value: lin(names.value, h, h)?,
            attention_output: lin(names.attention_output, h, h)?,
            attention_norm: norm(names.attention_norm)?,
            ffn_in: lin(names.ffn_in, h, i)?,
            ffn_out: lin(names.ffn_out, i, h)?,
            ffn_norm: norm(names.ffn_norm)?,
            heads: spec.heads,
            scale: ((h / spec.heads) as f64).powf(-0.5),
            activation: spec.activation,
            hidden_dropout: spec.hidden_dropout,
            attention_dropout: spec.attention_dropout,
            attention_output_dropout: names.attention_output_dropout,
        })
    }

    /// One layer; `bias` is the additive attention bias (batch, 1, 1, keys). Keys and values
    /// always come from every position; `outputs` says which positions' outputs are computed.
    pub(crate) fn forward(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        outputs: Outputs,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let queries = match outputs {
            Outputs::All => xs.clone(),
            Outputs::FirstToken => xs.narrow(1, 0, 1)?.contiguous()?,
        };
        let (q, k, v) = (
            self.query.forward(&queries, train)?,
            self.key.forward(xs, train)?,
            self.value.forward(xs, train)?,
        );
        let context = attend(&AttentionInputs {
            q: &q,
            k: &k,
            v: &v,
            heads: Heads::Projected(self.heads),
            bias: Some(bias),
            scale: self.scale,
            dropout: self.attention_dropout,
            train,
        })?;
        let mut attn = self.attention_output.forward(&context, train)?;
        if self.attention_output_dropout {
            attn = dropout(&attn, self.hidden_dropout, train)?;
        }
        let xs = self.attention_norm.forward_residual(&attn, &queries)?;
        let hidden = self.activation.forward(&self.ffn_in.forward(&xs, train)?)?;
        let out = dropout(
            &self.ffn_out.forward(&hidden, train)?,
            self.hidden_dropout,
            train,
        )?;
        self.ffn_norm.forward_residual(&out, &xs)
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        vec![
            &mut self.query,
            &mut self.key,
            &mut self.value,
            &mut self.attention_output,
            &mut self.ffn_in,
            &mut self.ffn_out,
        ]
    }
}

/// Which positions' outputs the last layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outputs {
    All,
    /// Only the first token's (a classification head reads nothing else): the last layer then
    /// skips the query projection, attention rows, feed-forward and norms of every other position,
    /// forward and backward, and its output is (batch, 1, hidden).
    FirstToken,
}

/// The stack of layers.
pub(crate) struct Encoder {
    pub(crate) layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// Layer `i` lives under `{prefix}.{i}`.
    pub(crate) fn load(
        w: &Weights,
        prefix: &str,
        names: &LayerNames,
        spec: &EncoderSpec,
    ) -> Result<Self> {
        spec.validate()?;
        let layers = (0..spec.layers)
            .map(|i| EncoderLayer::load(w, &format!("{prefix}.{i}"), names, spec))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Runs every layer over `embeddings` (batch, time, hidden) with a 1/0 padding `mask`
    /// (batch, time); the last layer computes `outputs`. With `all_hidden`,
    /// every layer's output is pushed to it after the embeddings themselves (Transformers'
    /// `hidden_states`: layers + 1 tensors).
    pub(crate) fn forward(
        &self,
        embeddings: &Tensor,
        mask: &Tensor,
        outputs: Outputs,
        train: bool,
        mut all_hidden: Option<&mut Vec<Tensor>>,
    ) -> candle_core::Result<Tensor> {
        let bias = padding_bias(mask)?;
        let mut xs = embeddings.clone();
        if let Some(all) = all_hidden.as_deref_mut() {
            all.push(xs.clone());
        }
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer.forward(
                &xs,
                &bias,
                if i == last { outputs } else { Outputs::All },
                train,
            )?;
            if let Some(all) = all_hidden.as_deref_mut() {
                all.push(xs.clone());
            }
        }
        Ok(xs)
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.layers
            .iter_mut()
            .flat_map(EncoderLayer::linears_mut)
            .collect()
    }
}

/// word + learned position (+ token type) embeddings → LayerNorm → dropout.
pub(crate) struct Embeddings {
    word: Embedding,
    position: Tensor,
    token_type: Option<Tensor>,
    norm: LayerNorm,
    dropout: f64,
}

impl Embeddings {
    /// Loads `{prefix}.word_embeddings`, `{prefix}.position_embeddings`,
    /// `{prefix}.token_type_embeddings` (when `type_vocab_size > 0`) and `{prefix}.LayerNorm`.
    pub(crate) fn load(
        w: &Weights,
        prefix: &str,
        vocab_size: usize,
        max_positions: usize,
        type_vocab_size: usize,
        spec: &EncoderSpec,
    ) -> Result<Self> {
        let h = spec.hidden;
        let word = w.get(
            &format!("{prefix}.word_embeddings.weight"),
            &[vocab_size, h],
        )?;
        let position = w.get(
            &format!("{prefix}.position_embeddings.weight"),
            &[max_positions, h],
        )?;
        let token_type = if type_vocab_size > 0 {
            Some(w.get(
                &format!("{prefix}.token_type_embeddings.weight"),
                &[type_vocab_size, h],
            )?)
        } else {
            None
        };
        Ok(Self {
            word: Embedding::new(word),
            position,
            token_type,
            norm: LayerNorm::load(w, &format!("{prefix}.LayerNorm"), h, spec.layer_norm_eps)?,
            dropout: spec.hidden_dropout,
        })
    }

    pub(crate) fn max_positions(&self) -> usize {
        self.position.dims()[0]
    }

    /// `input_ids` (batch, time) → (batch, time, hidden). Positions count from 0;
    /// token types default to 0 (single sentences).
    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        self.forward_at(input_ids, token_type_ids, None, train)
    }

    /// [`forward`](Self::forward) with explicit `position_ids` (batch, time), e.g. RoBERTa's.
    pub(crate) fn forward_at(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        position_ids: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        if t > self.max_positions() {
            candle_core::bail!(
                "sequence of {t} tokens is longer than the model's {} positions (max_position_embeddings)",
                self.max_positions()
            );
        }
        let mut xs = self.word.forward(input_ids)?;
        if let Some(table) = &self.token_type {
            let types = match token_type_ids {
                Some(ids) => Embedding::new(table.clone()).forward(ids)?,
                None => table.narrow(0, 0, 1)?.unsqueeze(0)?,
            };
            xs = xs.broadcast_add(&types)?;
        }
        xs = match position_ids {
            Some(ids) => (xs + Embedding::new(self.position.clone()).forward(ids)?)?,
            None => xs.broadcast_add(&self.position.narrow(0, 0, t)?.unsqueeze(0)?)?,
        };
        dropout(&self.norm.forward(&xs)?, self.dropout, train)
    }
}
