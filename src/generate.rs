//! Text generation for encoder-decoder models: batched greedy decoding with a KV cache.
use crate::models::t5::{DecoderCache, T5};
use candle_core::{DType, Result, Tensor, D};

#[derive(Debug, Clone)]
pub struct GenerationSettings {
    pub max_new_tokens: usize,
}

/// Greedy decoding of one batch. Returns the generated ids of each row (without the start
/// token, up to and including the first end-of-sequence token).
pub fn greedy(model: &T5, sources: &[Vec<u32>], settings: &GenerationSettings) -> Result<Vec<Vec<u32>>> {
    let cfg = &model.config;
    let device = &model.device;
    let (input_ids, mask) = crate::data::batch::pad(sources, cfg.pad_token_id, device)?;
    let encoded = model.encode(&input_ids, &mask, false)?;
    let eos = cfg.eos_ids();
    let batch = sources.len();
    let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); batch];
    let mut finished = vec![false; batch];
    let mut next = vec![cfg.decoder_start(); batch];
    let mut cache = DecoderCache::default();
    for _ in 0..settings.max_new_tokens {
        let ids = Tensor::from_vec(next.clone(), (batch, 1), device)?;
        let logits = model.decode(&ids, &encoded, &mask, Some(&mut cache), false)?;
        let chosen = logits
            .squeeze(1)?
            .to_dtype(DType::F32)?
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?;
        for (row, token) in chosen.into_iter().enumerate() {
            if finished[row] {
                next[row] = cfg.pad_token_id;
                continue;
            }
            outputs[row].push(token);
            next[row] = token;
            if eos.contains(&token) {
                finished[row] = true;
            }
        }
        if finished.iter().all(|f| *f) {
            break;
        }
    }
    Ok(outputs)
}
