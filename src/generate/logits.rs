//! Logits processors, as Transformers' `LogitsProcessorList` builds and orders them:
//! repetition penalty, no-repeat n-grams, min-new-tokens EOS suppression, then (sampling only)
//! temperature, top-k and top-p. They work on one sequence's f32 scores at a time, in place.
use super::config::GenerationSettings;
use rand::Rng;

/// Warpers applied only when sampling.
#[derive(Debug, Clone)]
struct Warpers {
    temperature: f32,
    top_k: usize,
    top_p: f64,
    min_tokens_to_keep: usize,
}

/// The processor chain of one `generate` call.
#[derive(Debug, Clone)]
pub struct LogitsProcessor {
    repetition_penalty: Option<f32>,
    no_repeat_ngram_size: usize,
    min_new_tokens: usize,
    eos: Vec<u32>,
    warpers: Option<Warpers>,
}

impl LogitsProcessor {
    pub fn new(settings: &GenerationSettings, eos: &[u32]) -> Self {
        let warpers = settings.do_sample.then(|| Warpers {
            temperature: settings.temperature as f32,
            top_k: settings.top_k,
            top_p: settings.top_p,
            // beam sampling keeps one more than the EOS ids; plain sampling keeps one
            min_tokens_to_keep: if settings.num_beams > 1 {
                eos.len() + 1
            } else {
                1
            },
        });
        Self {
            repetition_penalty: (settings.repetition_penalty != 1.0)
                .then_some(settings.repetition_penalty as f32),
            no_repeat_ngram_size: settings.no_repeat_ngram_size,
            min_new_tokens: settings.min_new_tokens,
            eos: eos.to_vec(),
            warpers,
        }
    }

    /// Whether `process` can change anything (greedy can skip the host copy otherwise).
    pub(crate) fn is_identity(&self) -> bool {
        self.repetition_penalty.is_none()
            && self.no_repeat_ngram_size == 0
            && self.min_new_tokens == 0
            && self
                .warpers
                .as_ref()
                .is_none_or(|w| w.temperature == 1.0 && w.top_k == 0 && w.top_p >= 1.0)
    }

    /// Processes the next-token scores of one sequence whose decoder input so far is
    /// `history` (the decoder start token first, then the generated tokens).
    pub fn process(&self, history: &[u32], scores: &mut [f32]) {
        if let Some(penalty) = self.repetition_penalty {
            repetition_penalty(history, scores, penalty);
        }
        if self.no_repeat_ngram_size > 0 {
            no_repeat_ngram(history, scores, self.no_repeat_ngram_size);
        }
        if history.len().saturating_sub(1) < self.min_new_tokens {
            for &e in &self.eos {
                if let Some(s) = scores.get_mut(e as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
        if let Some(w) = &self.warpers {
            if w.temperature != 1.0 {
                for s in scores.iter_mut() {
                    *s /= w.temperature;
                }
            }
            if w.top_k != 0 {
                top_k(scores, w.top_k.max(w.min_tokens_to_keep));
            }
            if w.top_p < 1.0 {
                top_p(scores, w.top_p, w.min_tokens_to_keep);
            }
        }
    }
}

/// Scores of tokens already in `history`: divided by the penalty when positive, multiplied
/// when negative (`RepetitionPenaltyLogitsProcessor`).
pub(crate) fn repetition_penalty(history: &[u32], scores: &mut [f32], penalty: f32) {
    let mut seen = std::collections::HashSet::with_capacity(history.len());
    for &t in history {
        if !seen.insert(t) {
            continue;
        }
        if let Some(s) = scores.get_mut(t as usize) {
            *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
        }
    }
}

/// Bans every token that would complete an n-gram already in `history`
/// (`NoRepeatNGramLogitsProcessor`).
pub(crate) fn no_repeat_ngram(history: &[u32], scores: &mut [f32], n: usize) {
    let len = history.len();
    if n == 0 || len < n {
        return;
    }
    let prefix = &history[len + 1 - n..];
    for start in 0..=len - n {
        if history[start..start + n - 1] == *prefix {
            if let Some(s) = scores.get_mut(history[start + n - 1] as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
}

/// Keeps the scores ≥ the k-th largest (`TopKLogitsWarper`).
pub(crate) fn top_k(scores: &mut [f32], k: usize) {
    let k = k.min(scores.len());
    if k == 0 || k == scores.len() {
        return;
    }
    let mut sorted = scores.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *kth;
    for s in scores.iter_mut() {
        if *s < threshold {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Keeps the smallest set of most likely tokens whose probability reaches `p`
/// (`TopPLogitsWarper`: ascending sort, cumulative probabilities summed in f64 and stored as
/// f32 as torch's CPU `cumsum` does, tokens with cumulative mass ≤ 1 − p removed, the
/// `min_keep` most likely always kept).
pub(crate) fn top_p(scores: &mut [f32], p: f64, min_keep: usize) {
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let max = scores[order[n - 1]];
    let exps: Vec<f64> = order
        .iter()
        .map(|&i| ((scores[i] - max) as f64).exp())
        .collect();
    let total: f64 = exps.iter().sum();
    let threshold = (1.0 - p) as f32;
    let mut cumulative = 0f64;
    let mut remove = Vec::new();
    for (rank, (&i, e)) in order.iter().zip(&exps).enumerate() {
        cumulative += ((e / total) as f32) as f64;
        if (cumulative as f32) <= threshold && rank < n.saturating_sub(min_keep) {
            remove.push(i);
        }
    }
    for i in remove {
        scores[i] = f32::NEG_INFINITY;
    }
}

/// Index of the largest score (the first one on ties, like `argmax`).
pub fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] || scores[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// A token drawn from softmax(scores).
pub(crate) fn sample<R: Rng>(scores: &[f32], rng: &mut R) -> u32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = scores.iter().map(|&s| ((s - max) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 || !total.is_finite() {
        return argmax(scores);
    }
    let mut target = rng.gen::<f64>() * total;
    let mut last = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last = i;
            if target < w {
                return i as u32;
            }
            target -= w;
        }
    }
    last as u32
}

/// log_softmax in f32 (beam search scores), in place.
pub(crate) fn log_softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = scores.iter().map(|&s| (s - max).exp()).sum();
    let log_sum = sum.ln();
    for s in scores.iter_mut() {
        *s = *s - max - log_sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_completions() {
        let mut scores = vec![0f32; 10];
        // history 0 5 6 7 5 6 -> prefix (5, 6) was followed by 7
        no_repeat_ngram(&[0, 5, 6, 7, 5, 6], &mut scores, 3);
        assert_eq!(scores[7], f32::NEG_INFINITY);
        assert_eq!(scores.iter().filter(|s| s.is_infinite()).count(), 1);
    }

    #[test]
    fn top_k_keeps_ties() {
        let mut s = vec![1.0, 3.0, 2.0, 3.0, 0.0];
        top_k(&mut s, 2);
        assert_eq!(
            s,
            vec![
                f32::NEG_INFINITY,
                3.0,
                f32::NEG_INFINITY,
                3.0,
                f32::NEG_INFINITY
            ]
        );
    }

    #[test]
    fn top_p_keeps_the_head() {
        let mut s = vec![(0.5f32).ln(), (0.3f32).ln(), (0.2f32).ln()];
        top_p(&mut s, 0.6, 1);
        assert!(s[0].is_finite() && s[1].is_finite() && s[2].is_infinite());
    }
}
