//! ROUGE-1 / ROUGE-2 / ROUGE-L / ROUGE-Lsum, identical to Google's Python
//! `rouge_score` 0.1.2:
//!
//! ```python
//! RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
//!     .score(target, prediction)
//! ```
//!
//! (`use_stemmer=false` reproduces `use_stemmer=False`.) Parity is checked by
//! `tests/rouge_parity.rs` against fixtures written by
//! `scripts/make_rouge_fixtures.py`; the floating point operations are the same
//! as Python's, so the results are bit-for-bit equal.
//!
//! Behaviour of `rouge_score` that is reproduced here:
//!
//! * Tokenizer: Python `str.lower()`, every run of characters outside
//!   `[a-z0-9]` becomes a separator, tokens longer than 3 characters are stemmed
//!   with NLTK's Porter stemmer ([`super::porter`]). Non-ASCII letters are
//!   therefore separators (`"café"` -> `["caf"]`, Chinese text and emoji give no
//!   tokens at all) except for the two characters whose lowercase form contains
//!   ASCII: `'İ'` (U+0130, lowercases to `i` + U+0307, so it ends a token after an
//!   `i`) and the Kelvin sign `'K'` (U+212A, lowercases to `k`).
//! * rougeN: clipped n-gram overlap; precision = overlap / max(#pred n-grams, 1),
//!   recall = overlap / max(#ref n-grams, 1).
//! * rougeL: LCS over the whole token sequences; 0 if either side has no tokens.
//! * rougeLsum: the texts are split on `'\n'` only (no sentence splitting),
//!   empty lines are dropped, and the summary-level union-LCS of ROUGE 1.5.5 is
//!   computed, with the same LCS back-tracking tie-break as `rouge_score` (the
//!   union depends on which LCS is picked) and its token-count clipping that
//!   prevents double counting.
//! * F-measure: `2 * p * r / (p + r)`, or 0 when `p + r == 0`.
//!
//! Speed: stems are memoised in a per-scorer cache that maps each raw token to a
//! dense id (behind a `Mutex`, so a scorer is `Send + Sync` and can be shared
//! between threads; the lock is held only while tokenizing). N-grams are
//! counted on dense per-call ids, ROUGE-L uses a two-row DP.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use super::porter::PorterStemmer;

/// Precision, recall and F-measure of one ROUGE type
/// (`rouge_score.scoring.Score`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

impl RougeScore {
    /// Builds a score from precision and recall, with `rouge_score`'s F-measure.
    pub fn from_pr(precision: f64, recall: f64) -> Self {
        RougeScore {
            precision,
            recall,
            fmeasure: fmeasure(precision, recall),
        }
    }
}

/// The four scores `rouge_score` computes for `["rouge1", "rouge2", "rougeL", "rougeLsum"]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RougeScores {
    pub rouge1: RougeScore,
    pub rouge2: RougeScore,
    pub rouge_l: RougeScore,
    pub rouge_lsum: RougeScore,
}

/// `rouge_score.scoring.fmeasure`: harmonic mean, 0 when both are 0.
pub fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------
// A small, std-only Fx hash (the one rustc uses) for the token caches.

#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

// ---------------------------------------------------------------------------
// Token cache.

/// Token id of a token that `rouge_score` drops after stemming (an empty or
/// non-`[a-z0-9]+` stem; cannot happen with the Porter stemmer, kept for parity
/// with the `VALID_TOKEN_RE` check).
const DROPPED: u32 = u32::MAX;

/// The cache is cleared when it holds more raw tokens than this.
const CACHE_LIMIT: usize = 1 << 21;

#[derive(Default, Clone)]
struct Vocab {
    /// Raw (lowercased, unstemmed) token -> id of its stem.
    token_to_id: FxMap<Box<str>, u32>,
    /// Stem -> id.
    stem_to_id: FxMap<Box<str>, u32>,
    /// Id -> stem.
    stems: Vec<Box<str>>,
}

impl Vocab {
    fn clear(&mut self) {
        self.token_to_id.clear();
        self.stem_to_id.clear();
        self.stems.clear();
    }

    #[inline]
    fn id_of(&mut self, token: &str, use_stemmer: bool) -> u32 {
        if let Some(&id) = self.token_to_id.get(token) {
            return id;
        }
        let stem = if use_stemmer && token.len() > 3 {
            PorterStemmer.stem(token)
        } else {
            token.to_string()
        };
        let id = if stem.is_empty()
            || !stem
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            DROPPED
        } else if let Some(&id) = self.stem_to_id.get(stem.as_str()) {
            id
        } else {
            let id = self.stems.len() as u32;
            let stem: Box<str> = stem.into_boxed_str();
            self.stems.push(stem.clone());
            self.stem_to_id.insert(stem, id);
            id
        };
        self.token_to_id.insert(token.into(), id);
        id
    }

    /// Tokenizes `text` into stem ids; `sents` receives the `(start, end)` id
    /// ranges of the `'\n'`-separated lines that have at least one token.
    fn tokenize_ids(
        &mut self,
        text: &str,
        use_stemmer: bool,
        ids: &mut Vec<u32>,
        sents: &mut Vec<(usize, usize)>,
    ) {
        let mut buf = String::with_capacity(32);
        let mut line_start = ids.len();
        let bytes = text.as_bytes();
        let n = bytes.len();
        let mut i = 0;
        macro_rules! flush {
            () => {
                if !buf.is_empty() {
                    let id = self.id_of(&buf, use_stemmer);
                    if id != DROPPED {
                        ids.push(id);
                    }
                    buf.clear();
                }
            };
        }
        while i < n {
            let b = bytes[i];
            if b < 0x80 {
                if b.is_ascii_alphanumeric() {
                    buf.push(b.to_ascii_lowercase() as char);
                } else {
                    flush!();
                    if b == b'\n' {
                        if ids.len() > line_start {
                            sents.push((line_start, ids.len()));
                        }
                        line_start = ids.len();
                    }
                }
                i += 1;
            } else if b == 0xC4 && i + 1 < n && bytes[i + 1] == 0xB0 {
                // U+0130 'İ' lowercases to "i\u{307}": an 'i' that ends the token.
                buf.push('i');
                flush!();
                i += 2;
            } else if b == 0xE2 && i + 2 < n && bytes[i + 1] == 0x84 && bytes[i + 2] == 0xAA {
                // U+212A KELVIN SIGN lowercases to ASCII 'k'.
                buf.push('k');
                i += 3;
            } else {
                // Any other non-ASCII character (or UTF-8 continuation byte)
                // lowercases to something outside [a-z0-9]: a separator.
                flush!();
                i += 1;
            }
        }
        flush!();
        if ids.len() > line_start {
            sents.push((line_start, ids.len()));
        }
    }
}

// ---------------------------------------------------------------------------
// Scorer.

/// Computes rouge1, rouge2, rougeL and rougeLsum like
/// `rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer)`.
pub struct RougeScorer {
    use_stemmer: bool,
    vocab: Mutex<Vocab>,
}

impl std::fmt::Debug for RougeScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RougeScorer")
            .field("use_stemmer", &self.use_stemmer)
            .finish()
    }
}

impl Clone for RougeScorer {
    fn clone(&self) -> Self {
        let vocab = self.lock().clone();
        RougeScorer {
            use_stemmer: self.use_stemmer,
            vocab: Mutex::new(vocab),
        }
    }
}

/// Scratch buffers for one text.
#[derive(Default)]
struct Tokens {
    ids: Vec<u32>,
    sents: Vec<(usize, usize)>,
}

impl RougeScorer {
    pub fn new(use_stemmer: bool) -> Self {
        RougeScorer {
            use_stemmer,
            vocab: Mutex::new(Vocab::default()),
        }
    }

    pub fn use_stemmer(&self) -> bool {
        self.use_stemmer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vocab> {
        // The cache is always left consistent, so a poisoned lock is harmless.
        self.vocab.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `rouge_score.tokenize.tokenize(text, stemmer)`: the (stemmed) tokens.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut t = Tokens::default();
        let mut v = self.lock();
        if v.token_to_id.len() > CACHE_LIMIT {
            v.clear();
        }
        v.tokenize_ids(text, self.use_stemmer, &mut t.ids, &mut t.sents);
        t.ids
            .iter()
            .map(|&id| v.stems[id as usize].to_string())
            .collect()
    }

    /// Scores `prediction` against `reference` (rouge_score's `score(target, prediction)`).
    pub fn score(&self, reference: &str, prediction: &str) -> RougeScores {
        let mut r = Tokens::default();
        let mut p = Tokens::default();
        {
            let mut v = self.lock();
            if v.token_to_id.len() > CACHE_LIMIT {
                v.clear();
            }
            v.tokenize_ids(reference, self.use_stemmer, &mut r.ids, &mut r.sents);
            v.tokenize_ids(prediction, self.use_stemmer, &mut p.ids, &mut p.sents);
        }
        score_ids(&mut r, &mut p)
    }
}

/// Scores two tokenized texts. Rewrites the ids to dense per-call ids.
fn score_ids(r: &mut Tokens, p: &mut Tokens) -> RougeScores {
    // Dense local ids 0..k.
    let mut local: FxMap<u32, u32> = FxMap::default();
    local.reserve(r.ids.len() + p.ids.len());
    for id in r.ids.iter_mut().chain(p.ids.iter_mut()) {
        let next = local.len() as u32;
        *id = *local.entry(*id).or_insert(next);
    }
    let k = local.len();
    let (rt, pt) = (&r.ids[..], &p.ids[..]);

    // rouge1
    let mut cnt_r = vec![0u32; k];
    let mut cnt_p = vec![0u32; k];
    for &t in rt {
        cnt_r[t as usize] += 1;
    }
    for &t in pt {
        cnt_p[t as usize] += 1;
    }
    let overlap1: u64 = cnt_r
        .iter()
        .zip(&cnt_p)
        .map(|(&a, &b)| a.min(b) as u64)
        .sum();
    let rouge1 = ngram_score(overlap1, rt.len(), pt.len());

    // rouge2
    let overlap2 = bigram_overlap(rt, pt);
    let rouge2 = ngram_score(
        overlap2,
        rt.len().saturating_sub(1),
        pt.len().saturating_sub(1),
    );

    // rougeL
    let rouge_l = if rt.is_empty() || pt.is_empty() {
        RougeScore::default()
    } else {
        let lcs = lcs_len(rt, pt) as f64;
        RougeScore::from_pr(lcs / pt.len() as f64, lcs / rt.len() as f64)
    };

    // rougeLsum (the unigram counts double as the Counter of all tokens)
    let rouge_lsum = if rt.is_empty() || pt.is_empty() {
        RougeScore::default()
    } else {
        let hits = summary_level_hits(rt, &r.sents, pt, &p.sents, &mut cnt_r, &mut cnt_p);
        RougeScore::from_pr(hits as f64 / pt.len() as f64, hits as f64 / rt.len() as f64)
    };

    RougeScores {
        rouge1,
        rouge2,
        rouge_l,
        rouge_lsum,
    }
}

/// `_score_ngrams` given the clipped overlap and the n-gram counts.
fn ngram_score(overlap: u64, ref_count: usize, pred_count: usize) -> RougeScore {
    let o = overlap as f64;
    RougeScore::from_pr(o / pred_count.max(1) as f64, o / ref_count.max(1) as f64)
}

fn bigram_overlap(rt: &[u32], pt: &[u32]) -> u64 {
    if rt.len() < 2 || pt.len() < 2 {
        return 0;
    }
    let key = |w: &[u32]| ((w[0] as u64) << 32) | w[1] as u64;
    let mut a: Vec<u64> = rt.windows(2).map(key).collect();
    let mut b: Vec<u64> = pt.windows(2).map(key).collect();
    a.sort_unstable();
    b.sort_unstable();
    // Sum over distinct bigrams of min(count_a, count_b) == size of the
    // multiset intersection, which a merge of the sorted lists counts directly.
    let (mut i, mut j, mut overlap) = (0, 0, 0u64);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                overlap += 1;
                i += 1;
                j += 1;
            }
        }
    }
    overlap
}

/// Length of the longest common subsequence (two-row DP over the shorter side).
fn lcs_len(a: &[u32], b: &[u32]) -> u32 {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut prev = vec![0u32; short.len() + 1];
    let mut cur = vec![0u32; short.len() + 1];
    for &x in long {
        for (j, &y) in short.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[short.len()]
}

/// `_summary_level_lcs` hit count. `cnt_r` / `cnt_c` are the token counts of
/// the whole reference / candidate (consumed).
fn summary_level_hits(
    rt: &[u32],
    r_sents: &[(usize, usize)],
    pt: &[u32],
    p_sents: &[(usize, usize)],
    cnt_r: &mut [u32],
    cnt_c: &mut [u32],
) -> u64 {
    let mut hits = 0u64;
    let mut table: Vec<u32> = Vec::new();
    let mut in_union: Vec<bool> = Vec::new();
    for &(rs, re) in r_sents {
        let ref_sent = &rt[rs..re];
        in_union.clear();
        in_union.resize(ref_sent.len(), false);
        for &(cs, ce) in p_sents {
            mark_lcs(ref_sent, &pt[cs..ce], &mut table, &mut in_union);
        }
        for (idx, &marked) in in_union.iter().enumerate() {
            if marked {
                let t = ref_sent[idx] as usize;
                if cnt_c[t] > 0 && cnt_r[t] > 0 {
                    hits += 1;
                    cnt_c[t] -= 1;
                    cnt_r[t] -= 1;
                }
            }
        }
    }
    hits
}

/// `lcs_ind(ref, can)`: marks the indices into `reference` of the LCS that
/// `rouge_score`'s `_backtrack_norec` reads out of the full DP table.
fn mark_lcs(reference: &[u32], can: &[u32], table: &mut Vec<u32>, marks: &mut [bool]) {
    let rows = reference.len();
    let cols = can.len();
    if rows == 0 || cols == 0 {
        return;
    }
    let w = cols + 1;
    table.clear();
    table.resize((rows + 1) * w, 0);
    for i in 1..=rows {
        let x = reference[i - 1];
        for j in 1..=cols {
            table[i * w + j] = if x == can[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let (mut i, mut j) = (rows, cols);
    while i > 0 && j > 0 {
        if reference[i - 1] == can[j - 1] {
            marks[i - 1] = true;
            i -= 1;
            j -= 1;
        } else if table[i * w + j - 1] > table[(i - 1) * w + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_example() {
        // rouge_score README: score('The quick brown fox jumps over the lazy dog',
        //                           'The quick brown dog jumps on the log.')
        let s = RougeScorer::new(true);
        let r = s.score(
            "The quick brown fox jumps over the lazy dog",
            "The quick brown dog jumps on the log.",
        );
        assert_eq!(r.rouge1.precision, 0.75);
        assert_eq!(r.rouge1.recall, 6.0 / 9.0);
        assert_eq!(r.rouge_l.precision, 0.625);
    }

    #[test]
    fn empty_gives_zero() {
        let s = RougeScorer::new(true);
        assert_eq!(s.score("", "a b c"), RougeScores::default());
        assert_eq!(s.score("a b c", ""), RougeScores::default());
        assert_eq!(s.score("", ""), RougeScores::default());
    }

    #[test]
    fn tokenizer() {
        let s = RougeScorer::new(true);
        assert_eq!(
            s.tokenize("The CATS, running! café 42"),
            ["the", "cat", "run", "caf", "42"]
        );
        assert_eq!(
            s.tokenize("\u{130}stanbul \u{212A}elvin"),
            ["i", "stanbul", "kelvin"]
        );
    }
}
