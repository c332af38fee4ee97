//! Greedy decoding and sampling (Transformers' `_sample`): one running row per input; rows
//! that produced end-of-sequence leave the running batch (and their cache rows are dropped).
use super::logits::{argmax, sample, LogitsProcessor};
use super::{Context, GenerationSettings};
use crate::models::t5::{DecoderCache, T5};
use crate::rng::{Purpose, Stream};
use crate::Result;
use candle_core::{DType, Tensor, D};

/// Decodes one batch; `seeds` (one per row) seed the sampling of each row.
pub(crate) fn run(
    model: &T5,
    sources: &[Vec<u32>],
    seeds: &[u64],
    settings: &GenerationSettings,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<u32>>> {
    let ctx = Context::new(model, settings);
    let device = &model.device;
    let batch = sources.len();
    let (input_ids, mut mask) = crate::data::batch::pad(sources, ctx.pad, device)?;
    let mut encoded = model.encode(&input_ids, &mask, false)?;
    on_step(0, batch);
    let processor = LogitsProcessor::new(settings, &ctx.eos);
    let plain_greedy = !settings.do_sample && processor.is_identity();
    let mut histories: Vec<Vec<u32>> = vec![vec![ctx.start]; batch];
    let mut rngs: Vec<Stream> = seeds
        .iter()
        .map(|&s| Stream::new(s, Purpose::Generate, [0; 3]))
        .collect();
    // the input row of each running row
    let mut active: Vec<usize> = (0..batch).collect();
    let mut cache = DecoderCache::with_capacity(settings.max_new_tokens + 1);
    for step in 0..settings.max_new_tokens {
        if active.is_empty() {
            break;
        }
        let last: Vec<u32> = active
            .iter()
            .map(|&r| *histories[r].last().unwrap_or(&ctx.start))
            .collect();
        let ids = Tensor::from_vec(last, (active.len(), 1), device)?;
        let logits = model
            .decode(&ids, &encoded, &mask, Some(&mut cache), false)?
            .squeeze(1)?
            .to_dtype(DType::F32)?;
        let tokens: Vec<u32> = if plain_greedy {
            logits.argmax(D::Minus1)?.to_vec1()?
        } else {
            let mut rows = logits.to_vec2::<f32>()?;
            rows.iter_mut()
                .zip(&active)
                .map(|(scores, &r)| {
                    processor.process(&histories[r], scores);
                    if settings.do_sample {
                        sample(scores, &mut rngs[r])
                    } else {
                        argmax(scores)
                    }
                })
                .collect()
        };
        on_step(step + 1, active.len());
        let mut keep: Vec<u32> = Vec::with_capacity(active.len());
        for (i, (&r, token)) in active.iter().zip(tokens).enumerate() {
            histories[r].push(token);
            if !ctx.eos.contains(&token) {
                keep.push(i as u32);
            }
        }
        if keep.len() < active.len() {
            active = keep.iter().map(|&i| active[i as usize]).collect();
            if !active.is_empty() {
                cache.select_rows(&keep)?;
                let ids = Tensor::from_vec(keep, active.len(), device)?;
                encoded = encoded.index_select(&ids, 0)?;
                mask = mask.index_select(&ids, 0)?;
            }
        }
    }
    Ok(histories.into_iter().map(|h| h[1..].to_vec()).collect())
}
