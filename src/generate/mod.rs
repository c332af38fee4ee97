//! Text generation for encoder-decoder models (T5), as Transformers' `generate`: greedy,
//! sampling and beam search, with the logits processors of [`logits`].
//!
//! The encoder runs once per batch. The decoder keeps a self-attention KV cache (preallocated,
//! written in place) and the cross-attention keys/values of every layer, so a step costs the
//! same whatever the number of tokens already generated (apart from attention over them).
//! Sequences stop independently at end-of-sequence; finished rows (greedy, sampling) and done
//! inputs (beam search) leave the running batch.
pub(crate) mod beam;
pub(crate) mod config;
pub mod logits;
pub(crate) mod search;

pub use config::{EarlyStopping, GenerationConfigFile, GenerationOverrides, GenerationSettings};
pub use logits::LogitsProcessor;

use crate::models::t5::T5;
use crate::Result;

/// Special ids of one call: from the settings (generation_config.json) or the model config.
pub(crate) struct Context {
    pub(crate) eos: Vec<u32>,
    pub(crate) start: u32,
    pub(crate) pad: u32,
}

impl Context {
    pub(crate) fn new(model: &T5, settings: &GenerationSettings) -> Self {
        let cfg = &model.config;
        Self {
            eos: settings
                .eos_token_ids
                .clone()
                .unwrap_or_else(|| cfg.eos_ids()),
            start: settings
                .decoder_start_token_id
                .unwrap_or_else(|| cfg.decoder_start()),
            pad: settings.pad_token_id.unwrap_or(cfg.pad_token_id),
        }
    }
}

/// The sampling seed of input `index` under `seed` (SplitMix64 of the pair), so that a
/// sampled output depends on its input's position, not on how inputs were batched.
pub(crate) fn row_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed
        ^ index
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates for one batch of token sequences (each ending in EOS, as the tokenizer makes
/// them). Returns the generated ids of every row in order: without the decoder start token,
/// up to and including the first end-of-sequence token when one was generated. Row `i`
/// samples with seed `row_seed(settings.seed, i)`.
pub fn generate(
    model: &T5,
    sources: &[Vec<u32>],
    settings: &GenerationSettings,
) -> Result<Vec<Vec<u32>>> {
    let seeds: Vec<u64> = (0..sources.len() as u64)
        .map(|i| row_seed(settings.seed, i))
        .collect();
    generate_seeded(model, sources, &seeds, settings)
}

/// [`generate`] with an explicit sampling seed per row.
pub(crate) fn generate_seeded(
    model: &T5,
    sources: &[Vec<u32>],
    seeds: &[u64],
    settings: &GenerationSettings,
) -> Result<Vec<Vec<u32>>> {
    generate_observed(model, sources, seeds, settings, &mut |_, _| {})
}

/// [`generate_seeded`] that calls `on_step(tokens_so_far, running_rows)` once the encoder has
/// run (`tokens_so_far` 0) and after every decoder step (for timing and progress).
pub fn generate_observed(
    model: &T5,
    sources: &[Vec<u32>],
    seeds: &[u64],
    settings: &GenerationSettings,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<u32>>> {
    settings.validate()?;
    if seeds.len() != sources.len() {
        return Err(crate::Error::Config(format!(
            "{} seeds for {} inputs",
            seeds.len(),
            sources.len()
        )));
    }
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    if settings.num_beams > 1 {
        beam::run(model, sources, settings, on_step)
    } else {
        search::run(model, sources, seeds, settings, on_step)
    }
}

/// Greedy decoding (sampling and beams switched off; the other settings apply).
pub fn greedy(
    model: &T5,
    sources: &[Vec<u32>],
    settings: &GenerationSettings,
) -> Result<Vec<Vec<u32>>> {
    let settings = GenerationSettings {
        num_beams: 1,
        do_sample: false,
        ..settings.clone()
    };
    generate(model, sources, &settings)
}

/// Generates for any number of inputs: sorted by length (longest first) into batches of
/// `batch_size`, outputs returned in input order. Input `i` samples with
/// `row_seed(settings.seed, i)`, whatever its batch. `progress` gets the number of inputs
/// done after each batch.
pub fn generate_all(
    model: &T5,
    sources: &[Vec<u32>],
    settings: &GenerationSettings,
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Vec<u32>>> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].len()));
    let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    for rows in order.chunks(batch_size.max(1)) {
        let batch: Vec<Vec<u32>> = rows.iter().map(|&i| sources[i].clone()).collect();
        let seeds: Vec<u64> = rows
            .iter()
            .map(|&i| row_seed(settings.seed, i as u64))
            .collect();
        for (&i, ids) in rows
            .iter()
            .zip(generate_seeded(model, &batch, &seeds, settings)?)
        {
            outputs[i] = ids;
        }
        progress(rows.len());
    }
    Ok(outputs)
}
