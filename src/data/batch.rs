//! Padding token sequences into batches.
use candle_core::{Device, Result, Tensor};

/// Right-pads `seqs` with `pad`; returns ids (batch, longest) and a 1/0 mask (u8).
pub fn pad(seqs: &[Vec<u32>], pad: u32, device: &Device) -> Result<(Tensor, Tensor)> {
    let longest = seqs.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(seqs.len() * longest);
    let mut mask = Vec::with_capacity(seqs.len() * longest);
    for seq in seqs {
        ids.extend(seq.iter().copied());
        ids.extend(std::iter::repeat_n(pad, longest - seq.len()));
        mask.extend(std::iter::repeat_n(1u8, seq.len()));
        mask.extend(std::iter::repeat_n(0u8, longest - seq.len()));
    }
    let shape = (seqs.len(), longest);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// A padded encoder-decoder batch: labels are the targets, decoder inputs the targets
/// shifted right behind the start token (Transformers' `shift_tokens_right`).
pub struct Seq2SeqBatch {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
    pub decoder_input_ids: Tensor,
    /// Targets with padding replaced by 0 (masked out by `label_mask`).
    pub(crate) labels: Tensor,
    /// 1.0 on real target tokens, 0.0 on padding (Transformers' -100).
    pub(crate) label_mask: Tensor,
}

impl Seq2SeqBatch {
    pub fn new(
        sources: &[Vec<u32>],
        targets: &[Vec<u32>],
        pad_id: u32,
        start_id: u32,
        device: &Device,
    ) -> Result<Self> {
        let (input_ids, attention_mask) = pad(sources, pad_id, device)?;
        let (labels, label_mask) = pad(targets, 0, device)?;
        let shifted: Vec<Vec<u32>> = targets
            .iter()
            .map(|t| {
                std::iter::once(start_id)
                    .chain(t.iter().copied())
                    .take(t.len())
                    .collect()
            })
            .collect();
        let (decoder_input_ids, _) = pad(&shifted, pad_id, device)?;
        Ok(Self {
            input_ids,
            attention_mask,
            decoder_input_ids,
            labels,
            label_mask: label_mask.to_dtype(candle_core::DType::F32)?,
        })
    }
}
