//! BERT (and BERT-shaped models such as MiniLM), matching Transformers' `BertModel` and
//! `BertForSequenceClassification`; RoBERTa's `RobertaModel` is the same model with its
//! position ids counted after the padding index (see [`Positions`]).
use crate::error::{Error, Result};
use crate::models::encoder::{Embeddings, Encoder, EncoderSpec, LayerNames, Outputs};
use crate::models::head::{EncoderOutput, FreshInit};
use crate::nn::activation::Activation;
use crate::nn::dropout::dropout;
use crate::nn::Linear;
use crate::nn::Weights;
use candle_core::{DType, Tensor};
use serde::Deserialize;

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}

/// Mirrors BERT's (and RoBERTa's) config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// `bert` or `roberta` (absent: BERT).
    #[serde(default)]
    pub(crate) model_type: Option<String>,
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
    #[serde(default = "default_dropout")]
    pub(crate) hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub(crate) attention_probs_dropout_prob: f64,
    #[serde(default = "default_positions")]
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub(crate) type_vocab_size: usize,
    #[serde(default = "default_init_range")]
    pub(crate) initializer_range: f64,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default)]
    pub(crate) pad_token_id: Option<u32>,
    #[serde(default)]
    pub(crate) position_embedding_type: Option<String>,
    #[serde(default)]
    pub(crate) classifier_dropout: Option<f64>,
}

/// How position ids follow from the input ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Positions {
    /// BERT: 0, 1, 2, … for every token.
    FromZero,
    /// RoBERTa (`create_position_ids_from_input_ids`): tokens other than the padding id are
    /// numbered `padding_idx + 1`, `padding_idx + 2`, …; padding tokens take `padding_idx`.
    AfterPadding(u32),
}

impl Positions {
    /// Rows of the position table that no token can reach at the start.
    pub(crate) fn offset(self) -> usize {
        match self {
            Positions::FromZero => 0,
            Positions::AfterPadding(pad) => pad as usize + 1,
        }
    }

    /// Position ids (batch, time) for `input_ids`, or `None` when they are 0..time.
    pub(crate) fn ids(self, input_ids: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let Positions::AfterPadding(pad) = self else {
            return Ok(None);
        };
        let real = input_ids.ne(pad)?.to_dtype(DType::F32)?;
        let counts = (real.cumsum(1)? * &real)?;
        Ok(Some((counts + pad as f64)?.to_dtype(DType::U32)?))
    }
}

impl BertConfig {
    pub(crate) fn is_roberta(&self) -> bool {
        self.model_type.as_deref() == Some("roberta")
    }

    /// The module prefix of the encoder inside a task model (`bert.`, `roberta.`).
    pub(crate) fn prefix(&self) -> &'static str {
        if self.is_roberta() {
            "roberta."
        } else {
            "bert."
        }
    }

    /// The padding id (Transformers' defaults: 0 for BERT, 1 for RoBERTa).
    pub fn pad_id(&self) -> u32 {
        self.pad_token_id
            .unwrap_or(if self.is_roberta() { 1 } else { 0 })
    }

    pub(crate) fn positions(&self) -> Positions {
        if self.is_roberta() {
            Positions::AfterPadding(self.pad_id())
        } else {
            Positions::FromZero
        }
    }

    /// What config.json alone can tell is wrong: the encoder's spec, and a position table
    /// with room after RoBERTa's padding index.
    pub(crate) fn check(&self) -> Result<EncoderSpec> {
        let spec = self.spec()?;
        spec.validate()?;
        if self.positions().offset() >= self.max_position_embeddings {
            return Err(Error::Config(format!(
                "config.json: max_position_embeddings {} leaves no position after the padding index {}",
                self.max_position_embeddings,
                self.pad_id()
            )));
        }
        Ok(spec)
    }

    pub(crate) fn spec(&self) -> Result<EncoderSpec> {
        if let Some(kind) = self
            .position_embedding_type
            .as_deref()
            .filter(|k| *k != "absolute")
        {
            return Err(Error::Unsupported(format!(
                "config.json: position_embedding_type '{kind}' (only 'absolute' is supported)"
            )));
        }
        let activation = Activation::from_name(&self.hidden_act)
            .map_err(|e| Error::Config(format!("config.json: hidden_act: {e}")))?;
        Ok(EncoderSpec {
            hidden: self.hidden_size,
            heads: self.num_attention_heads,
            intermediate: self.intermediate_size,
            layers: self.num_hidden_layers,
            activation,
            layer_norm_eps: self.layer_norm_eps,
            hidden_dropout: self.hidden_dropout_prob,
            attention_dropout: self.attention_probs_dropout_prob,
        })
    }
}

const BERT_LAYER: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
    attention_output_dropout: true,
};

/// `BertModel`: embeddings, encoder and the optional pooler (first token → dense → tanh).
pub struct BertModel {
    embeddings: Embeddings,
    positions: Positions,
    encoder: Encoder,
    pub(crate) pooler: Option<Linear>,
}

impl BertModel {
    /// Loads the modules under `prefix` (`"bert."` inside a task model, `""` alone). The
    /// pooler is loaded when the checkpoint has it, else created by `fresh` if given.
    pub(crate) fn load(
        config: &BertConfig,
        w: &Weights,
        prefix: &str,
        fresh: Option<&mut FreshInit>,
    ) -> Result<Self> {
        let spec = config.check()?;
        let positions = config.positions();
        let embeddings = Embeddings::load(
            w,
            &format!("{prefix}embeddings"),
            config.vocab_size,
            config.max_position_embeddings,
            config.type_vocab_size,
            &spec,
        )?;
        let encoder = Encoder::load(w, &format!("{prefix}encoder.layer"), &BERT_LAYER, &spec)?;
        let pooler_name = format!("{prefix}pooler.dense");
        let h = config.hidden_size;
        let pooler = match fresh {
            Some(fresh) => Some(fresh.linear(w, &pooler_name, h, h)?),
            None if w.contains(&format!("{pooler_name}.weight")) => {
                Some(Linear::load(w, &pooler_name, h, h, true)?)
            }
            None => None,
        };
        Ok(Self {
            embeddings,
            positions,
            encoder,
            pooler,
        })
    }

    /// The longest input (RoBERTa: `max_position_embeddings - padding_idx - 1`, e.g. 512 of 514).
    pub fn max_positions(&self) -> usize {
        self.embeddings.max_positions() - self.positions.offset()
    }

    /// Last hidden state (batch, time, hidden), or (batch, 1, hidden) for [`Outputs::FirstToken`];
    /// with `all_hidden`, every hidden state is pushed to it (embeddings first).
    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        mask: &Tensor,
        outputs: Outputs,
        train: bool,
        all_hidden: Option<&mut Vec<Tensor>>,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        if self.positions.offset() > 0 && t > self.max_positions() {
            candle_core::bail!(
                "sequence of {t} tokens is longer than the model's {} positions (max_position_embeddings less padding_idx + 1)",
                self.max_positions()
            );
        }
        let position_ids = self.positions.ids(input_ids)?;
        let xs =
            self.embeddings
                .forward_at(input_ids, token_type_ids, position_ids.as_ref(), train)?;
        self.encoder.forward(&xs, mask, outputs, train, all_hidden)
    }

    /// Embeddings, then each layer's output: `num_hidden_layers + 1` tensors.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let mut all = Vec::with_capacity(self.encoder.layers.len() + 1);
        self.forward(
            input_ids,
            token_type_ids,
            mask,
            Outputs::All,
            train,
            Some(&mut all),
        )?;
        Ok(all)
    }

    /// The pooler output (batch, hidden) from the last hidden state, if the model has a pooler.
    pub(crate) fn pool(
        &self,
        last_hidden: &Tensor,
        train: bool,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(dense) = &self.pooler else {
            return Ok(None);
        };
        let first = last_hidden.narrow(1, 0, 1)?.squeeze(1)?;
        Ok(Some(dense.forward(&first, train)?.tanh()?))
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.encoder.linears_mut();
        out.extend(self.pooler.as_mut());
        out
    }
}

/// `BertForSequenceClassification`: pooler output → dropout → classifier.
pub struct BertForSequenceClassification {
    pub(crate) bert: BertModel,
    pub(crate) classifier: Linear,
    dropout: f64,
}

impl BertForSequenceClassification {
    /// Module names carry the `bert.` prefix; checkpoints without it (a saved `BertModel`)
    /// need `Weights::add_alias("bert.", "")`. A missing pooler or classifier is created by `fresh`.
    pub(crate) fn load(
        config: BertConfig,
        num_labels: usize,
        w: &Weights,
        fresh: &mut FreshInit,
    ) -> Result<Self> {
        let bert = BertModel::load(&config, w, "bert.", Some(&mut *fresh))?;
        let classifier = fresh.linear(w, "classifier", config.hidden_size, num_labels)?;
        Ok(Self {
            dropout: config
                .classifier_dropout
                .unwrap_or(config.hidden_dropout_prob),
            bert,
            classifier,
        })
    }

    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let last = self.bert.forward(
            input_ids,
            token_type_ids,
            mask,
            Outputs::FirstToken,
            train,
            None,
        )?;
        self.head(&last, train).map(|(_, logits)| logits)
    }

    pub(crate) fn forward_all(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let mut hidden_states = Vec::new();
        let last = self.bert.forward(
            input_ids,
            token_type_ids,
            mask,
            Outputs::All,
            train,
            Some(&mut hidden_states),
        )?;
        let (pooled, logits) = self.head(&last, train)?;
        Ok(EncoderOutput {
            hidden_states,
            pooled: Some(pooled),
            logits,
        })
    }

    fn head(&self, last: &Tensor, train: bool) -> candle_core::Result<(Tensor, Tensor)> {
        let pooled = match self.bert.pool(last, train)? {
            Some(p) => p,
            None => candle_core::bail!("BertForSequenceClassification without a pooler"),
        };
        let logits = self
            .classifier
            .forward(&dropout(&pooled, self.dropout, train)?, train)?;
        Ok((pooled, logits))
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.bert.linears_mut();
        out.push(&mut self.classifier);
        out
    }
}
