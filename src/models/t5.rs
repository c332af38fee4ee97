//! T5 v1.0 and v1.1 / FLAN-T5 (encoder-decoder), matching Transformers' `T5ForConditionalGeneration`.
use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::attention::{
    attend, causal_bias, merge_heads, padding_bias, split_heads, AttentionInputs, Heads,
};
use crate::nn::dropout::dropout;
use crate::nn::embedding::Embedding;
use crate::nn::norm::RmsNorm;
use crate::nn::Linear;
use crate::nn::Weights;
use candle_core::{Device, Tensor};
use serde::Deserialize;

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_dropout() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ff() -> String {
    "relu".into()
}
fn default_true() -> bool {
    true
}
fn default_eos() -> serde_json::Value {
    serde_json::json!(1)
}

/// Mirrors T5's config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct T5Config {
    pub(crate) vocab_size: usize,
    pub(crate) d_model: usize,
    pub(crate) d_kv: usize,
    pub(crate) d_ff: usize,
    pub(crate) num_layers: usize,
    #[serde(default)]
    pub(crate) num_decoder_layers: Option<usize>,
    pub(crate) num_heads: usize,
    #[serde(default = "default_buckets")]
    pub(crate) relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub(crate) relative_attention_max_distance: usize,
    #[serde(default = "default_dropout")]
    pub(crate) dropout_rate: f64,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_epsilon: f64,
    #[serde(default = "default_ff")]
    pub(crate) feed_forward_proj: String,
    #[serde(default = "default_true")]
    pub(crate) tie_word_embeddings: bool,
    /// Written by Transformers 5 (which always ties and reads the old meaning of
    /// `tie_word_embeddings` as "scale the decoder output by d_model^-0.5").
    #[serde(default)]
    pub(crate) scale_decoder_outputs: Option<bool>,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default = "default_eos")]
    pub(crate) eos_token_id: serde_json::Value,
    #[serde(default)]
    pub(crate) decoder_start_token_id: Option<u32>,
}

impl T5Config {
    /// Whether the decoder output is scaled by d_model^-0.5 before the LM head (T5 v1.0).
    pub(crate) fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings)
    }

    /// Refuses sizes no T5 can have (they would fail deep inside the model, or panic),
    /// naming config.json and the field.
    pub(crate) fn validate(&self, path: &std::path::Path) -> Result<()> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_heads", self.num_heads),
            ("num_layers", self.num_layers),
            ("num_decoder_layers", self.decoder_layers()),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
        ];
        for (field, value) in sizes {
            if value == 0 {
                return Err(Error::file(
                    path,
                    format!("{field} is 0: a T5 needs at least 1"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    pub fn decoder_start(&self) -> u32 {
        self.decoder_start_token_id.unwrap_or(self.pad_token_id)
    }

    /// All end-of-sequence ids (the field may be an integer or a list).
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect(),
            v => v.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
        }
    }

    /// `feed_forward_proj` → (gated, activation), as Transformers parses it.
    pub(crate) fn feed_forward(&self) -> Result<(bool, Activation)> {
        let proj = self.feed_forward_proj.as_str();
        let (gated, name) = match proj.strip_prefix("gated-") {
            Some(rest) => (true, rest),
            None => (false, proj),
        };
        let name = if gated && name == "gelu" {
            "gelu_new"
        } else {
            name
        };
        Ok((
            gated,
            Activation::from_name(name).map_err(|_| {
                Error::Config(format!(
                    "config.json: unsupported feed_forward_proj '{proj}'"
                ))
            })?,
        ))
    }
}

/// T5's bucketing of relative positions (key − query), computed in f32 like Transformers.
pub(crate) fn relative_position_bucket(
    relative: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut buckets = num_buckets as i64;
    let mut result = 0i64;
    let distance = if bidirectional {
        buckets /= 2;
        if relative > 0 {
            result += buckets;
        }
        relative.abs()
    } else {
        (-relative).max(0)
    };
    let max_exact = buckets / 2;
    if distance < max_exact {
        result += distance;
    } else {
        let ratio = (distance as f32 / max_exact as f32).ln();
        let scale = (max_distance as f64 / max_exact as f64).ln() as f32;
        let large = max_exact + ((ratio / scale) * (buckets - max_exact) as f32) as i64;
        result += large.min(buckets - 1);
    }
    result as u32
}

use crate::nn::kv_cache::KvCache;

pub(crate) struct T5Attention {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    heads: usize,
    relative_bias: Option<Tensor>,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
    dropout: f64,
}

impl T5Attention {
    fn load(
        w: &Weights,
        name: &str,
        cfg: &T5Config,
        has_bias: bool,
        bidirectional: bool,
    ) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        let relative_bias = if has_bias {
            Some(w.get(
                &format!("{name}.relative_attention_bias.weight"),
                &[cfg.relative_attention_num_buckets, cfg.num_heads],
            )?)
        } else {
            None
        };
        Ok(Self {
            q: Linear::load(w, &format!("{name}.q"), cfg.d_model, inner, false)?,
            k: Linear::load(w, &format!("{name}.k"), cfg.d_model, inner, false)?,
            v: Linear::load(w, &format!("{name}.v"), cfg.d_model, inner, false)?,
            o: Linear::load(w, &format!("{name}.o"), inner, cfg.d_model, false)?,
            heads: cfg.num_heads,
            relative_bias,
            bidirectional,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
            dropout: cfg.dropout_rate,
        })
    }

    /// Relative position bias (1, heads, queries, keys) for queries at `offset..offset+queries`.
    fn position_bias(
        &self,
        queries: usize,
        keys: usize,
        offset: usize,
        device: &Device,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(table) = &self.relative_bias else {
            return Ok(None);
        };
        let buckets: Vec<u32> = (0..queries)
            .flat_map(|i| {
                (0..keys).map(move |j| {
                    relative_position_bucket(
                        j as i64 - (i + offset) as i64,
                        self.bidirectional,
                        self.num_buckets,
                        self.max_distance,
                    )
                })
            })
            .collect();
        let ids = Tensor::from_vec(buckets, queries * keys, device)?;
        let bias = table
            .index_select(&ids, 0)?
            .reshape((queries, keys, self.heads))?;
        Ok(Some(bias.permute((2, 0, 1))?.unsqueeze(0)?))
    }

    /// Attention of `xs` over `kv_input` (itself for self-attention). `bias` already holds
    /// position bias and masks. With a cache, new keys/values are appended to it.
    fn forward(
        &self,
        xs: &Tensor,
        kv_input: Option<&Tensor>,
        bias: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let Some(cache) = cache else {
            let source = kv_input.unwrap_or(xs);
            let (q, k, v) = (
                self.q.forward(xs, train)?,
                self.k.forward(source, train)?,
                self.v.forward(source, train)?,
            );
            let context = attend(&AttentionInputs {
                q: &q,
                k: &k,
                v: &v,
                heads: Heads::Projected(self.heads),
                bias,
                scale: 1.0,
                dropout: self.dropout,
                train,
            })?;
            return self.o.forward(&context, train);
        };
        // decoding step by step: keys and values of earlier steps (or the encoder's) are cached
        let q = split_heads(&self.q.forward(xs, train)?, self.heads)?;
        let (k, v) = match (kv_input, cache.is_empty()) {
            (Some(_), false) => cache
                .view()?
                .ok_or_else(|| candle_core::Error::Msg("empty cross-attention cache".into()))?,
            (source, _) => {
                let source = source.unwrap_or(xs);
                let k = split_heads(&self.k.forward(source, train)?, self.heads)?;
                let v = split_heads(&self.v.forward(source, train)?, self.heads)?;
                if kv_input.is_some() {
                    // cross-attention: computed once from the encoder output
                    cache.set(k.clone(), v.clone())?;
                    (k, v)
                } else {
                    cache.append(&k, &v)?
                }
            }
        };
        // no dropout: the cache serves inference only
        let context = attend(&AttentionInputs {
            q: &q,
            k: &k,
            v: &v,
            heads: Heads::Split,
            bias,
            scale: 1.0,
            dropout: 0.0,
            train: false,
        })?;
        self.o.forward(&merge_heads(&context)?, train)
    }
}

struct FeedForward {
    wi: Option<Linear>,
    wi_0: Option<Linear>,
    wi_1: Option<Linear>,
    wo: Linear,
    activation: Activation,
    dropout: f64,
}

impl FeedForward {
    fn load(w: &Weights, name: &str, cfg: &T5Config) -> Result<Self> {
        let (gated, activation) = cfg.feed_forward()?;
        let lin = |n: &str, i, o| Linear::load(w, &format!("{name}.{n}"), i, o, false);
        Ok(Self {
            wi: if gated {
                None
            } else {
                Some(lin("wi", cfg.d_model, cfg.d_ff)?)
            },
            wi_0: if gated {
                Some(lin("wi_0", cfg.d_model, cfg.d_ff)?)
            } else {
                None
            },
            wi_1: if gated {
                Some(lin("wi_1", cfg.d_model, cfg.d_ff)?)
            } else {
                None
            },
            wo: lin("wo", cfg.d_ff, cfg.d_model)?,
            activation,
            dropout: cfg.dropout_rate,
        })
    }

    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        // inference: one fused pass for the activation (and the gate) where a kernel exists
        let hidden = match (&self.wi, &self.wi_0, &self.wi_1) {
            (Some(wi), _, _) => {
                let h = wi.forward(xs, train)?;
                if train {
                    self.activation.forward(&h)?
                } else {
                    self.activation.forward_inference(&h, None)?
                }
            }
            (None, Some(wi_0), Some(wi_1)) => {
                let (a, b) = (wi_0.forward(xs, train)?, wi_1.forward(xs, train)?);
                if train {
                    (self.activation.forward(&a)? * b)?
                } else {
                    self.activation.forward_inference(&a, Some(&b))?
                }
            }
            _ => candle_core::bail!("T5 feed-forward without input projection"),
        };
        let hidden = dropout(&hidden, self.dropout, train)?;
        self.wo.forward(&hidden, train)
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = Vec::new();
        out.extend(self.wi.as_mut());
        out.extend(self.wi_0.as_mut());
        out.extend(self.wi_1.as_mut());
        out.push(&mut self.wo);
        out
    }
}

struct Block {
    self_norm: RmsNorm,
    self_attn: T5Attention,
    cross: Option<(RmsNorm, T5Attention)>,
    ff_norm: RmsNorm,
    ff: FeedForward,
    dropout: f64,
}

/// Per-layer caches of a decoder: self-attention grows, cross-attention is computed once
/// (at the first cached step, from the encoder output).
#[derive(Default)]
pub struct DecoderCache {
    /// (self-attention, cross-attention) of each layer.
    pub(crate) layers: Vec<(KvCache, KvCache)>,
    /// Decoder positions already cached.
    pub(crate) length: usize,
    /// Positions to allocate for at the first step (more are added by doubling).
    pub(crate) reserve: usize,
}

impl DecoderCache {
    /// An empty cache with room for `positions` decoder positions.
    pub(crate) fn with_capacity(positions: usize) -> Self {
        Self {
            reserve: positions,
            ..Default::default()
        }
    }

    /// Keeps the batch rows `rows`, in that order (drops finished sequences, reorders beams);
    /// the encoder output and mask passed to later steps must be selected the same way.
    pub(crate) fn select_rows(&mut self, rows: &[u32]) -> candle_core::Result<()> {
        for (own, cross) in &mut self.layers {
            own.select_rows(rows)?;
            if let Some((k, v)) = cross.view()? {
                let ids = Tensor::from_vec(rows.to_vec(), rows.len(), k.device())?;
                cross.set(k.index_select(&ids, 0)?, v.index_select(&ids, 0)?)?;
            }
        }
        Ok(())
    }

    /// Reorders the self-attention caches only: for beams that move within their own batch
    /// item, whose cross-attention keys/values are all the same.
    pub(crate) fn select_self_rows(&mut self, rows: &[u32]) -> candle_core::Result<()> {
        for (own, _) in &mut self.layers {
            own.select_rows(rows)?;
        }
        Ok(())
    }
}

impl Block {
    fn load(w: &Weights, name: &str, cfg: &T5Config, first: bool, decoder: bool) -> Result<Self> {
        let eps = cfg.layer_norm_epsilon;
        let norm =
            |i: usize| RmsNorm::load(w, &format!("{name}.layer.{i}.layer_norm"), cfg.d_model, eps);
        let self_attn = T5Attention::load(
            w,
            &format!("{name}.layer.0.SelfAttention"),
            cfg,
            first,
            !decoder,
        )?;
        let cross = if decoder {
            Some((
                norm(1)?,
                T5Attention::load(
                    w,
                    &format!("{name}.layer.1.EncDecAttention"),
                    cfg,
                    false,
                    true,
                )?,
            ))
        } else {
            None
        };
        let ff_index = if decoder { 2 } else { 1 };
        Ok(Self {
            self_norm: norm(0)?,
            self_attn,
            cross,
            ff_norm: norm(ff_index)?,
            ff: FeedForward::load(w, &format!("{name}.layer.{ff_index}.DenseReluDense"), cfg)?,
            dropout: cfg.dropout_rate,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        self_bias: Option<&Tensor>,
        encoder: Option<(&Tensor, &Tensor)>,
        cache: Option<&mut (KvCache, KvCache)>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (self_cache, cross_cache) = match cache {
            Some((s, c)) => (Some(s), Some(c)),
            None => (None, None),
        };
        let attn = self.self_attn.forward(
            &self.self_norm.forward(xs)?,
            None,
            self_bias,
            self_cache,
            train,
        )?;
        let mut xs = (xs + dropout(&attn, self.dropout, train)?)?;
        if let (Some((norm, attn)), Some((encoder_out, encoder_bias))) = (&self.cross, encoder) {
            let out = attn.forward(
                &norm.forward(&xs)?,
                Some(encoder_out),
                Some(encoder_bias),
                cross_cache,
                train,
            )?;
            xs = (xs + dropout(&out, self.dropout, train)?)?;
        }
        let out = self.ff.forward(&self.ff_norm.forward(&xs)?, train)?;
        xs + dropout(&out, self.dropout, train)?
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let a = &mut self.self_attn;
        let mut out: Vec<&mut Linear> = vec![&mut a.q, &mut a.k, &mut a.v, &mut a.o];
        if let Some((_, c)) = &mut self.cross {
            out.extend([&mut c.q, &mut c.k, &mut c.v, &mut c.o]);
        }
        out.extend(self.ff.linears_mut());
        out
    }
}

struct Stack {
    blocks: Vec<Block>,
    final_norm: RmsNorm,
    dropout: f64,
}

impl Stack {
    fn load(w: &Weights, name: &str, cfg: &T5Config, layers: usize, decoder: bool) -> Result<Self> {
        let blocks = (0..layers)
            .map(|i| Block::load(w, &format!("{name}.block.{i}"), cfg, i == 0, decoder))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            blocks,
            final_norm: RmsNorm::load(
                w,
                &format!("{name}.final_layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: cfg.dropout_rate,
        })
    }
}

pub struct T5 {
    pub config: T5Config,
    parameter_count: usize,
    shared: Embedding,
    encoder: Stack,
    decoder: Stack,
    pub(crate) lm_head: Linear,
    pub device: Device,
}

impl T5 {
    pub fn load(config: T5Config, weights: &Weights) -> Result<Self> {
        let cfg = &config;
        let shared = weights.get_any(
            &[
                "shared.weight",
                "encoder.embed_tokens.weight",
                "decoder.embed_tokens.weight",
            ],
            &[cfg.vocab_size, cfg.d_model],
        )?;
        for tied in ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"] {
            weights.acknowledge_duplicate(tied);
        }
        // A separate head when the file has one (FLAN-T5), else the shared embedding.
        let lm_head = if weights.contains("lm_head.weight") {
            Linear::load(weights, "lm_head", cfg.d_model, cfg.vocab_size, false)?
        } else {
            if !cfg.tie_word_embeddings {
                tracing::warn!(
                    "{}: tie_word_embeddings=false but no lm_head.weight: using the shared embedding as the head (as Transformers 5 does)",
                    weights.source().display()
                );
            }
            Linear::new("lm_head", shared.clone(), None)
        };
        let encoder = Stack::load(weights, "encoder", cfg, cfg.num_layers, false)?;
        let decoder = Stack::load(weights, "decoder", cfg, cfg.decoder_layers(), true)?;
        Ok(Self {
            parameter_count: weights.used_parameter_count(),
            encoder,
            decoder,
            shared: Embedding::new(shared),
            lm_head,
            device: weights.device.clone(),
            config,
        })
    }

    /// Encoder hidden states (batch, time, d_model). `mask` is (batch, time) of 1/0.
    pub fn encode(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        let mut xs = dropout(
            &self.shared.forward(input_ids)?,
            self.encoder.dropout,
            train,
        )?;
        let bias = self.encoder.blocks[0]
            .self_attn
            .position_bias(t, t, 0, &self.device)?;
        let mask_bias = padding_bias(mask)?;
        let bias = match bias {
            Some(b) => b.broadcast_add(&mask_bias)?,
            None => mask_bias,
        };
        for block in &self.encoder.blocks {
            xs = block.forward(&xs, Some(&bias), None, None, train)?;
        }
        dropout(
            &self.encoder.final_norm.forward(&xs)?,
            self.encoder.dropout,
            train,
        )
    }

    /// Decoder logits (batch, time, vocab) for `decoder_ids`. With a cache, `decoder_ids`
    /// are the new positions only and the cache grows by their number.
    pub fn decode(
        &self,
        decoder_ids: &Tensor,
        encoder_out: &Tensor,
        encoder_mask: &Tensor,
        mut cache: Option<&mut DecoderCache>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = decoder_ids.dims2()?;
        let offset = cache.as_ref().map(|c| c.length).unwrap_or(0);
        let keys = offset + t;
        let mut xs = dropout(
            &self.shared.forward(decoder_ids)?,
            self.decoder.dropout,
            train,
        )?;
        // one new position sees every cached one: no causal mask needed
        let causal = if t == 1 {
            None
        } else {
            Some(causal_bias(t, keys, offset, &self.device)?)
        };
        let position =
            self.decoder.blocks[0]
                .self_attn
                .position_bias(t, keys, offset, &self.device)?;
        let self_bias = match (position, causal) {
            (Some(p), Some(c)) => Some(p.broadcast_add(&c)?),
            (p, c) => p.or(c),
        };
        let cross_bias = padding_bias(encoder_mask)?;
        if let Some(cache) = cache.as_deref_mut() {
            if cache.layers.len() != self.decoder.blocks.len() {
                let reserve = cache.reserve;
                cache.layers = (0..self.decoder.blocks.len())
                    .map(|_| (KvCache::with_capacity(reserve), KvCache::default()))
                    .collect();
            }
        }
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            xs = block.forward(
                &xs,
                self_bias.as_ref(),
                Some((encoder_out, &cross_bias)),
                layer_cache,
                train,
            )?;
        }
        if let Some(cache) = cache {
            cache.length += t;
        }
        let mut xs = dropout(
            &self.decoder.final_norm.forward(&xs)?,
            self.decoder.dropout,
            train,
        )?;
        if self.config.scales_decoder_output() {
            xs = (xs * (self.config.d_model as f64).powf(-0.5))?;
        }
        self.lm_head.forward(&xs, train)
    }
}

impl crate::lora::Adaptable for T5 {
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = Vec::new();
        for block in self
            .encoder
            .blocks
            .iter_mut()
            .chain(self.decoder.blocks.iter_mut())
        {
            out.extend(block.linears_mut());
        }
        out.push(&mut self.lm_head);
        out
    }

    fn base_parameter_count(&self) -> usize {
        self.parameter_count
    }
}

impl T5 {
    /// Per-token negative log-likelihood of the batch's labels (batch, target_len), zero on padding.
    pub fn token_nll(
        &self,
        batch: &crate::data::batch::Seq2SeqBatch,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let encoded = self.encode(&batch.input_ids, &batch.attention_mask, train)?;
        let logits = self.decode(
            &batch.decoder_input_ids,
            &encoded,
            &batch.attention_mask,
            None,
            train,
        )?;
        crate::nn::loss::token_nll(&logits, &batch.labels)? * &batch.label_mask
    }

    /// Transformers' loss: mean cross-entropy over every non-padding target token of the batch.
    pub fn loss(
        &self,
        batch: &crate::data::batch::Seq2SeqBatch,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let nll = self.token_nll(batch, train)?;
        crate::nn::loss::masked_mean(&nll, &batch.label_mask)
    }
}
