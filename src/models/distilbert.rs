//! DistilBERT, matching Transformers' `DistilBertModel` and `DistilBertForSequenceClassification`.
use crate::error::{Error, Result};
use crate::models::encoder::{Embeddings, Encoder, EncoderSpec, LayerNames, Outputs};
use crate::models::head::{EncoderOutput, FreshInit};
use crate::nn::activation::Activation;
use crate::nn::dropout::dropout;
use crate::nn::Linear;
use crate::nn::Weights;
use candle_core::Tensor;
use serde::Deserialize;

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_classif_dropout() -> f64 {
    0.2
}
fn default_positions() -> usize {
    512
}
fn default_init_range() -> f64 {
    0.02
}

/// DistilBERT's LayerNorms use a fixed epsilon (not in the config).
const LAYER_NORM_EPS: f64 = 1e-12;

/// Mirrors DistilBERT's config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct DistilBertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) dim: usize,
    pub(crate) n_layers: usize,
    pub(crate) n_heads: usize,
    pub(crate) hidden_dim: usize,
    #[serde(default = "default_act")]
    pub(crate) activation: String,
    #[serde(default = "default_dropout")]
    pub(crate) dropout: f64,
    #[serde(default = "default_dropout")]
    pub(crate) attention_dropout: f64,
    #[serde(default = "default_classif_dropout")]
    pub(crate) seq_classif_dropout: f64,
    #[serde(default = "default_positions")]
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_init_range")]
    pub(crate) initializer_range: f64,
    #[serde(default)]
    pub(crate) pad_token_id: Option<u32>,
}

impl DistilBertConfig {
    pub(crate) fn spec(&self) -> Result<EncoderSpec> {
        let activation = Activation::from_name(&self.activation)
            .map_err(|e| Error::Config(format!("config.json: activation: {e}")))?;
        Ok(EncoderSpec {
            hidden: self.dim,
            heads: self.n_heads,
            intermediate: self.hidden_dim,
            layers: self.n_layers,
            activation,
            layer_norm_eps: LAYER_NORM_EPS,
            hidden_dropout: self.dropout,
            attention_dropout: self.attention_dropout,
        })
    }
}

const DISTILBERT_LAYER: LayerNames = LayerNames {
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_output: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    ffn_norm: "output_layer_norm",
    attention_output_dropout: false,
};

/// `DistilBertModel`: embeddings (word + learned position) and the transformer.
pub(crate) struct DistilBertModel {
    embeddings: Embeddings,
    transformer: Encoder,
}

impl DistilBertModel {
    /// Loads the modules under `prefix` (`"distilbert."` inside a task model, `""` alone).
    pub(crate) fn load(config: &DistilBertConfig, w: &Weights, prefix: &str) -> Result<Self> {
        let spec = config.spec()?;
        Ok(Self {
            embeddings: Embeddings::load(
                w,
                &format!("{prefix}embeddings"),
                config.vocab_size,
                config.max_position_embeddings,
                0,
                &spec,
            )?,
            transformer: Encoder::load(
                w,
                &format!("{prefix}transformer.layer"),
                &DISTILBERT_LAYER,
                &spec,
            )?,
        })
    }

    pub(crate) fn max_positions(&self) -> usize {
        self.embeddings.max_positions()
    }

    /// Last hidden state (batch, time, dim), or (batch, 1, dim) for [`Outputs::FirstToken`]; with
    /// `all_hidden`, every hidden state is pushed to it (embeddings first).
    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        outputs: Outputs,
        train: bool,
        all_hidden: Option<&mut Vec<Tensor>>,
    ) -> candle_core::Result<Tensor> {
        let xs = self.embeddings.forward(input_ids, None, train)?;
        self.transformer
            .forward(&xs, mask, outputs, train, all_hidden)
    }

    /// Embeddings, then each layer's output: `n_layers + 1` tensors.
    pub(crate) fn hidden_states(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let mut all = Vec::with_capacity(self.transformer.layers.len() + 1);
        self.forward(input_ids, mask, Outputs::All, train, Some(&mut all))?;
        Ok(all)
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.transformer.linears_mut()
    }
}

/// `DistilBertForSequenceClassification`: first token → pre_classifier → ReLU → dropout → classifier.
pub struct DistilBertForSequenceClassification {
    pub(crate) config: DistilBertConfig,
    pub(crate) distilbert: DistilBertModel,
    pub(crate) pre_classifier: Linear,
    pub(crate) classifier: Linear,
}

impl DistilBertForSequenceClassification {
    /// Module names carry the `distilbert.` prefix; a checkpoint without it needs
    /// `Weights::add_alias("distilbert.", "")`. A missing head is created by `fresh`.
    pub fn load(
        config: DistilBertConfig,
        num_labels: usize,
        w: &Weights,
        fresh: &mut FreshInit,
    ) -> Result<Self> {
        let distilbert = DistilBertModel::load(&config, w, "distilbert.")?;
        let pre_classifier = fresh.linear(w, "pre_classifier", config.dim, config.dim)?;
        let classifier = fresh.linear(w, "classifier", config.dim, num_labels)?;
        Ok(Self {
            config,
            distilbert,
            pre_classifier,
            classifier,
        })
    }

    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let last = self
            .distilbert
            .forward(input_ids, mask, Outputs::FirstToken, train, None)?;
        self.head(&last, train)
    }

    pub(crate) fn forward_all(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let mut hidden_states = Vec::new();
        let last = self.distilbert.forward(
            input_ids,
            mask,
            Outputs::All,
            train,
            Some(&mut hidden_states),
        )?;
        Ok(EncoderOutput {
            logits: self.head(&last, train)?,
            hidden_states,
            pooled: None,
        })
    }

    fn head(&self, last: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let first = last.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = self.pre_classifier.forward(&first, train)?.relu()?;
        let pooled = dropout(&pooled, self.config.seq_classif_dropout, train)?;
        self.classifier.forward(&pooled, train)
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.distilbert.linears_mut();
        out.push(&mut self.pre_classifier);
        out.push(&mut self.classifier);
        out
    }
}
