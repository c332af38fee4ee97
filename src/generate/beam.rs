//! Beam search, step for step as Transformers 5's vectorised `_beam_search` (greedy selection):
//!
//! * each step, every running beam's logits go through `log_softmax` and the logits
//!   processors, are added to the beam's running score, and the best
//!   `K = max(2, 1 + #eos) · num_beams` continuations over all beams of an input are kept;
//! * a continuation "hits a stopping criterion" when its token is an EOS or the maximum length
//!   is reached; the best `num_beams` continuations that do not hit one run on (the others get
//!   −1e9 added to their score);
//! * of the continuations that hit one, those among the first `num_beams` of the K become
//!   finished hypotheses scored `score / generated_len ^ length_penalty` (generated length with
//!   the new token), merged with the previous ones, best `num_beams` kept; with
//!   `early_stopping=True` nothing is added once `num_beams` are finished, and nothing once the
//!   early-stop heuristic says no running beam can improve;
//! * the heuristic: the best running score divided by `len ^ length_penalty` (len = generated
//!   tokens so far, or the maximum with `early_stopping="never"` and a positive penalty) must
//!   beat the worst finished score while all `num_beams` are finished;
//! * an input is done when the heuristic is satisfied, when `early_stopping=True` and
//!   `num_beams` hypotheses are finished, or at the maximum length. Transformers keeps running a
//!   done input in the batch without changing its result; here its rows leave the batch.
//!
//! The result of an input is its best finished hypothesis. Scores are f32, as in Transformers.
use super::logits::{log_softmax, LogitsProcessor};
use super::{Context, EarlyStopping, GenerationSettings};
use crate::models::t5::{DecoderCache, T5};
use crate::Result;
use candle_core::{DType, Tensor};

const NEG: f32 = -1.0e9;

struct Beam {
    tokens: Vec<u32>,
    score: f32,
    /// Row of the running batch whose cache holds this beam's prefix.
    row: usize,
}

#[derive(Clone)]
struct Hypothesis {
    tokens: Vec<u32>,
    score: f32,
    finished: bool,
}

struct Item {
    running: Vec<Beam>,
    hypotheses: Vec<Hypothesis>,
    /// Transformers' `is_early_stop_heuristic_unsatisfied`.
    improvable: bool,
    done: bool,
}

/// A continuation: accumulated score, beam, token.
#[derive(Clone, Copy)]
struct Candidate {
    score: f32,
    beam: usize,
    token: u32,
}

fn penalty(len: usize, length_penalty: f64) -> f32 {
    (len as f64).powf(length_penalty) as f32
}

/// The `k` best `base + scores[v]` of one beam into `out` (score descending, token ascending).
fn beam_top_k(scores: &[f32], base: f32, beam: usize, k: usize, out: &mut Vec<Candidate>) {
    let mut best: Vec<Candidate> = Vec::with_capacity(k + 1);
    for (token, &s) in scores.iter().enumerate() {
        let score = s + base;
        if score.is_nan() || (best.len() == k && score <= best[k - 1].score) {
            continue;
        }
        let at = best.partition_point(|c| c.score >= score);
        best.insert(
            at,
            Candidate {
                score,
                beam,
                token: token as u32,
            },
        );
        best.truncate(k);
    }
    out.extend(best);
}

/// The fixed settings of one beam search.
struct Search {
    ctx: Context,
    processor: LogitsProcessor,
    num_beams: usize,
    max_new: usize,
    /// Continuations kept per input and step: `max(2, 1 + #eos) · num_beams`.
    keep_k: usize,
    length_penalty: f64,
    early_stopping: EarlyStopping,
}

/// The running batch of the next step.
struct NextBatch {
    /// Inputs still running, in row order.
    active: Vec<usize>,
    /// For each row of the next step, the row of this step whose cache it continues.
    rows: Vec<u32>,
    /// The token each row of the next step feeds the decoder.
    tokens: Vec<u32>,
}

pub(crate) fn run(
    model: &T5,
    sources: &[Vec<u32>],
    settings: &GenerationSettings,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<u32>>> {
    let search = Search::new(model, settings);
    let device = &model.device;
    let (input_ids, mut mask) = crate::data::batch::pad(sources, search.ctx.pad, device)?;
    let mut encoded = model.encode(&input_ids, &mask, false)?;
    on_step(0, sources.len());
    let mut items = search.init_items(sources.len());
    // inputs with rows in the running batch, in row order
    let mut active: Vec<usize> = (0..sources.len()).filter(|&i| !items[i].done).collect();
    let mut row_tokens: Vec<u32> = vec![search.ctx.start; active.len()];
    let mut cache = DecoderCache::with_capacity(search.max_new + 1);

    for step in 0..search.max_new {
        if active.is_empty() {
            break;
        }
        let ids = Tensor::from_vec(row_tokens.clone(), (row_tokens.len(), 1), device)?;
        let logits = model
            .decode(&ids, &encoded, &mask, Some(&mut cache), false)?
            .squeeze(1)?
            .to_dtype(DType::F32)?;
        let mut rows = logits.to_vec2::<f32>()?;
        let running_rows = rows.len();
        let next = search.step(&mut items, &active, &mut rows, step);
        on_step(step + 1, running_rows);
        if next.active.is_empty() {
            break;
        }
        // the batch rows of the next step: beams reordered within inputs, done inputs dropped,
        // and after the first step one row per beam instead of one per input
        let reshaped = step == 0 || next.active.len() < active.len();
        if reshaped {
            cache.select_rows(&next.rows)?;
            let ids = Tensor::from_vec(next.rows.clone(), next.rows.len(), device)?;
            encoded = encoded.index_select(&ids, 0)?;
            mask = mask.index_select(&ids, 0)?;
        } else {
            cache.select_self_rows(&next.rows)?;
        }
        active = next.active;
        row_tokens = next.tokens;
    }
    Ok(items.into_iter().map(Item::into_result).collect())
}

impl Search {
    fn new(model: &T5, settings: &GenerationSettings) -> Self {
        let ctx = Context::new(model, settings);
        let processor = LogitsProcessor::new(settings, &ctx.eos);
        let num_beams = settings.num_beams;
        Self {
            keep_k: 2usize.max(1 + ctx.eos.len()) * num_beams,
            ctx,
            processor,
            num_beams,
            max_new: settings.max_new_tokens,
            length_penalty: settings.length_penalty,
            early_stopping: settings.early_stopping,
        }
    }

    /// All beams start as the decoder start token, beam 0 with score 0 and the others with
    /// -1e9; at the first step the beams of input `i` share its running row `i`.
    fn init_items(&self, inputs: usize) -> Vec<Item> {
        (0..inputs)
            .map(|i| Item {
                running: (0..self.num_beams)
                    .map(|j| Beam {
                        tokens: Vec::new(),
                        score: if j == 0 { 0.0 } else { NEG },
                        row: i,
                    })
                    .collect(),
                hypotheses: vec![
                    Hypothesis {
                        tokens: Vec::new(),
                        score: NEG,
                        finished: false
                    };
                    self.num_beams
                ],
                improvable: true,
                done: self.max_new == 0,
            })
            .collect()
    }

    /// One decoding step of the `active` inputs from the logits `rows` of the running batch:
    /// candidates, finished hypotheses, running beams, whether each input is done.
    fn step(
        &self,
        items: &mut [Item],
        active: &[usize],
        rows: &mut [Vec<f32>],
        step: usize,
    ) -> NextBatch {
        let mut next = NextBatch {
            active: Vec::with_capacity(active.len()),
            rows: Vec::new(),
            tokens: Vec::new(),
        };
        let mut history = Vec::with_capacity(step + 1);
        let mut processed = vec![false; rows.len()];
        let generated = step + 1;
        let at_max = generated >= self.max_new;
        for &i in active {
            let item = &mut items[i];
            let candidates = self.score_candidates(item, rows, &mut processed, &mut history);
            let hits: Vec<bool> = candidates
                .iter()
                .map(|c| at_max || self.ctx.eos.contains(&c.token))
                .collect();
            self.add_hypotheses(item, &candidates, &hits, generated);
            self.advance_beams(item, &candidates, &hits);
            self.update_done(item, generated, at_max);
            if !item.done {
                next.active.push(i);
                for beam in item.running.iter_mut() {
                    next.rows.push(beam.row as u32);
                    next.tokens
                        .push(*beam.tokens.last().unwrap_or(&self.ctx.start));
                    beam.row = next.rows.len() - 1;
                }
            }
        }
        next
    }

    /// Step 1: the processed log-probabilities of each beam's row (each row processed once),
    /// then the `keep_k` best continuations over all beams of the input (ties: lower beam,
    /// then lower token, first).
    fn score_candidates(
        &self,
        item: &Item,
        rows: &mut [Vec<f32>],
        processed: &mut [bool],
        history: &mut Vec<u32>,
    ) -> Vec<Candidate> {
        let mut candidates = Vec::with_capacity(self.num_beams * self.keep_k);
        for (j, beam) in item.running.iter().enumerate() {
            let scores = &mut rows[beam.row];
            if !processed[beam.row] {
                history.clear();
                history.push(self.ctx.start);
                history.extend_from_slice(&beam.tokens);
                log_softmax(scores);
                self.processor.process(history, scores);
                processed[beam.row] = true;
            }
            beam_top_k(scores, beam.score, j, self.keep_k, &mut candidates);
        }
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.beam.cmp(&b.beam))
                .then(a.token.cmp(&b.token))
        });
        candidates.truncate(self.keep_k);
        candidates
    }

    /// Step 2, finished hypotheses: the candidates among the first `num_beams` that hit a
    /// stopping criterion, merged with the previous ones, best `num_beams` kept (uses the
    /// state before this step's running update).
    fn add_hypotheses(
        &self,
        item: &mut Item,
        candidates: &[Candidate],
        hits: &[bool],
        generated: usize,
    ) {
        let num_beams = self.num_beams;
        let full = self.early_stopping == EarlyStopping::True
            && item.hypotheses.iter().all(|h| h.finished);
        let divisor = penalty(generated, self.length_penalty);
        let mut merged: Vec<(f32, usize, Option<Hypothesis>)> =
            Vec::with_capacity(num_beams + candidates.len());
        for (slot, h) in item.hypotheses.iter().enumerate() {
            merged.push((h.score, slot, None));
        }
        for (rank, c) in candidates.iter().enumerate() {
            let eligible = rank < num_beams && hits[rank];
            let mut score = c.score / divisor;
            if full {
                score += NEG;
            }
            if !item.improvable {
                score += NEG;
            }
            if !eligible {
                score += NEG;
            }
            let mut tokens = item.running[c.beam].tokens.clone();
            tokens.push(c.token);
            merged.push((
                score,
                num_beams + rank,
                Some(Hypothesis {
                    tokens,
                    score,
                    finished: eligible,
                }),
            ));
        }
        merged.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let old = std::mem::take(&mut item.hypotheses);
        item.hypotheses = merged
            .into_iter()
            .take(num_beams)
            .map(|(_, slot, new)| new.unwrap_or_else(|| old[slot].clone()))
            .collect();
    }

    /// Step 3, the beams that run on: the best `num_beams` continuations that hit no
    /// stopping criterion (those that hit one get -1e9 added).
    fn advance_beams(&self, item: &mut Item, candidates: &[Candidate], hits: &[bool]) {
        let mut order: Vec<(f32, usize)> = candidates
            .iter()
            .zip(hits)
            .enumerate()
            .map(|(rank, (c, &hit))| (if hit { c.score + NEG } else { c.score }, rank))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        item.running = order
            .iter()
            .take(self.num_beams)
            .map(|&(score, rank)| {
                let c = candidates[rank];
                let parent = &item.running[c.beam];
                let mut tokens = parent.tokens.clone();
                tokens.push(c.token);
                Beam {
                    tokens,
                    score,
                    row: parent.row,
                }
            })
            .collect();
    }

    /// Step 4: the early-stop heuristic, then whether the input is done.
    fn update_done(&self, item: &mut Item, generated: usize, at_max: bool) {
        let lp = self.length_penalty;
        let es = self.early_stopping;
        let hypothetical = if es == EarlyStopping::Never && lp > 0.0 {
            self.max_new
        } else {
            generated
        };
        let best_possible = item.running[0].score / penalty(hypothetical, lp);
        let worst = item
            .hypotheses
            .iter()
            .map(|h| h.score)
            .fold(f32::INFINITY, f32::min);
        let beatable = item
            .hypotheses
            .iter()
            .any(|h| best_possible > if h.finished { worst } else { NEG });
        item.improvable = item.improvable && beatable;
        let all_finished = item.hypotheses.iter().all(|h| h.finished);
        item.done = at_max || !item.improvable || (es == EarlyStopping::True && all_finished);
    }
}

impl Item {
    /// The best finished hypothesis, else the best running beam.
    fn into_result(self) -> Vec<u32> {
        match self.hypotheses.into_iter().find(|h| h.finished) {
            Some(h) => h.tokens,
            None => self
                .running
                .into_iter()
                .next()
                .map(|b| b.tokens)
                .unwrap_or_default(),
        }
    }
}
