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
//! counted on dense per-call ids.
//!
//! Memory: the LCS table is never stored. ROUGE-L's LCS length is computed
//! bit-parallel (Allison-Dix / Hyyrö) in O(n + m) memory and n * m / 64 word
//! steps; ROUGE-Lsum's per-sentence-pair LCS tokens are read out by the same
//! walk `rouge_score` makes over its table, from bit-parallel rows recomputed
//! one block of columns at a time from checkpoints (about 0.27 * n * sqrt(m)
//! bytes for an n-token reference sentence and an m-token candidate sentence;
//! see [`mark_lcs`]). A single 200,000-word pair takes seconds and tens of MB,
//! where the table would need 160 GB.

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
pub(crate) fn fmeasure(precision: f64, recall: f64) -> f64 {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vocab> {
        // The cache is always left consistent, so a poisoned lock is harmless.
        self.vocab.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `rouge_score.tokenize.tokenize(text, stemmer)`: the (stemmed) tokens.
    #[cfg(test)]
    fn tokenize(&self, text: &str) -> Vec<String> {
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
    let mut scratch = LcsScratch::new(k);

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
        let lcs = lcs_len(rt, pt, &mut scratch) as f64;
        RougeScore::from_pr(lcs / pt.len() as f64, lcs / rt.len() as f64)
    };

    // rougeLsum (the unigram counts double as the Counter of all tokens)
    let rouge_lsum = if rt.is_empty() || pt.is_empty() {
        RougeScore::default()
    } else {
        let hits = summary_level_hits(
            rt,
            &r.sents,
            pt,
            &p.sents,
            &mut cnt_r,
            &mut cnt_p,
            &mut scratch,
        );
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

// ---------------------------------------------------------------------------
// Bit-parallel LCS (Allison & Dix 1986, Hyyrö 2004).
//
// Take the reference tokens as the rows and the other sequence's tokens as the
// columns of the LCS table T. Row i is kept as a bit vector V_i over the
// columns: bit j - 1 is 0 exactly where T[i][j] = T[i][j - 1] + 1, so
// T[i][j] = j - popcount(V_i & (2^j - 1)). With M_x the bit mask of the columns
// holding token x and x_i the i-th row's token,
//
//     U = V_{i-1} & M_{x_i},    V_i = (V_{i-1} + U) | (V_{i-1} & !M_{x_i}),
//
// starting from V_0 = all ones, and the carry into bit j of that addition is
// T[i][j] - T[i-1][j] (0 or 1). The LCS length is the number of zero bits left.
//
// The columns are processed in 64-bit words, G words (a "group") at a time: all
// rows run down one group before the next, each row passing the carry out of
// the group's last word to the next group. The state is therefore one carry
// byte per row plus the column masks of the current group (G words per token
// id, set before the group and cleared after), so memory is linear in the
// input, and the G independent words per row keep the CPU's adders busy.

/// 64-bit words processed together per row (see above).
const G: usize = 4;
/// Columns in one group.
const GROUP_COLS: usize = 64 * G;

/// Reusable buffers of the bit-parallel LCS for one scoring call.
struct LcsScratch {
    /// Token id -> the bit masks of its columns in the current group (all zero
    /// outside [`LcsScratch::set_masks`] / [`LcsScratch::clear_masks`]).
    masks: Vec<[u64; G]>,
    /// Per row: carry into the current group; after it, carry out of it.
    carry: Vec<u8>,
    /// Union-LCS traceback: the rows' carries at the start of each block, as bits.
    checkpoints: Vec<u64>,
    /// Union-LCS traceback: V_i of every row of every word of one block.
    block_v: Vec<u64>,
    /// Union-LCS traceback: the carry into every word of one block, per row.
    block_c: Vec<u8>,
}

impl LcsScratch {
    /// Scratch for token ids below `k`.
    fn new(k: usize) -> Self {
        LcsScratch {
            masks: vec![[0; G]; k],
            carry: Vec::new(),
            checkpoints: Vec::new(),
            block_v: Vec::new(),
            block_c: Vec::new(),
        }
    }

    /// Sets the masks of the columns `cols` (at most [`GROUP_COLS`] tokens).
    fn set_masks(&mut self, cols: &[u32]) {
        for (p, &t) in cols.iter().enumerate() {
            self.masks[t as usize][p / 64] |= 1u64 << (p % 64);
        }
    }

    fn clear_masks(&mut self, cols: &[u32]) {
        for &t in cols {
            self.masks[t as usize] = [0; G];
        }
    }
}

/// Runs `rows` down one group of columns whose masks are set. `carry[r]` is
/// row r's carry into the group on entry and its carry out on return. Returns
/// the last row's words (all ones for no rows). With `RECORD`, the words of row
/// r (1-based: `r + 1`) go to `rec_v[g * stride + r + 1]` and the carries into
/// them to `rec_c[g * stride + r + 1]`.
#[inline(always)]
fn run_group<const RECORD: bool>(
    rows: &[u32],
    masks: &[[u64; G]],
    carry: &mut [u8],
    rec_v: &mut [u64],
    rec_c: &mut [u8],
    stride: usize,
) -> [u64; G] {
    let mut v = [!0u64; G];
    for (r, (&x, c)) in rows.iter().zip(carry.iter_mut()).enumerate() {
        let m = masks[x as usize];
        let mut cin = *c as u64;
        for g in 0..G {
            if RECORD {
                rec_c[g * stride + r + 1] = cin as u8;
            }
            let u = v[g] & m[g];
            let sum = v[g] as u128 + u as u128 + cin as u128;
            cin = (sum >> 64) as u64;
            v[g] = sum as u64 | (v[g] & !m[g]);
            if RECORD {
                rec_v[g * stride + r + 1] = v[g];
            }
        }
        *c = cin as u8;
    }
    v
}

/// Length of the longest common subsequence of `a` and `b` (token ids below
/// `scratch.masks.len()`): bit-parallel over the longer side, O(|a| + |b|)
/// memory, |a| * |b| / 64 word steps.
fn lcs_len(a: &[u32], b: &[u32], scratch: &mut LcsScratch) -> usize {
    let (rows, cols) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if rows.is_empty() {
        return 0;
    }
    scratch.carry.clear();
    scratch.carry.resize(rows.len(), 0);
    let mut lcs = 0;
    for group in cols.chunks(GROUP_COLS) {
        scratch.set_masks(group);
        let v = run_group::<false>(
            rows,
            &scratch.masks,
            &mut scratch.carry,
            &mut [],
            &mut [],
            0,
        );
        scratch.clear_masks(group);
        // Columns past the end of the last group never match and stay 1, so
        // every zero bit is a real column.
        lcs += v.iter().map(|w| w.count_zeros() as usize).sum::<usize>();
    }
    lcs
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
    scratch: &mut LcsScratch,
) -> u64 {
    let mut hits = 0u64;
    let mut in_union: Vec<bool> = Vec::new();
    for &(rs, re) in r_sents {
        let ref_sent = &rt[rs..re];
        in_union.clear();
        in_union.resize(ref_sent.len(), false);
        for &(cs, ce) in p_sents {
            mark_lcs(ref_sent, &pt[cs..ce], scratch, &mut in_union);
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

/// Groups per block of the traceback in [`mark_lcs`] for `words` column words:
/// about sqrt(words / 72) words per block balances the block buffers (9 bytes
/// per row and word) against the checkpoints (1 bit per row and block).
fn block_groups(words: usize) -> usize {
    let words_per_block = (words as f64 / 72.0).sqrt();
    ((words_per_block / G as f64).round() as usize).max(1)
}

/// `lcs_ind(ref, can)`: marks the indices into `reference` of the LCS that
/// `rouge_score`'s `_backtrack_norec` reads out of the full DP table:
///
/// ```python
/// while i > 0 and j > 0:
///     if ref[i - 1] == can[j - 1]: take i - 1; i -= 1; j -= 1
///     elif t[i][j - 1] > t[i - 1][j]: j -= 1
///     else: i -= 1
/// ```
///
/// The table is never stored. The walk only needs, at (i, j), whether
/// T[i][j] - T[i][j-1] = 0 (bit j - 1 of V_i is 1) and T[i][j] - T[i-1][j] = 1
/// (the carry into the word of column j at row i plus the popcount difference
/// of V_{i-1} and V_i below column j): exactly then t[i][j-1] > t[i-1][j].
/// Those come from the bit-parallel rows of one block of column words at a
/// time: a first pass stores every row's carry into the first word of each
/// block (1 bit per row and block); the walk, which only moves left and up,
/// recomputes the block it enters from that checkpoint, for the rows it can
/// still reach. For an n-token reference sentence and m-token candidate
/// sentence this takes about 2 * n * m / 64 word steps and
/// 0.27 * n * sqrt(m) bytes (24 MB for 200,000 x 200,000 tokens), instead of
/// the 4 * n * m bytes of the table.
fn mark_lcs(reference: &[u32], can: &[u32], s: &mut LcsScratch, marks: &mut [bool]) {
    let n = reference.len();
    let m = can.len();
    if n == 0 || m == 0 {
        return;
    }
    let groups = m.div_ceil(GROUP_COLS);
    let per_block = block_groups(m.div_ceil(64));
    let blocks = groups.div_ceil(per_block);
    let block_words = per_block * G;
    let group_cols = |q: usize| &can[q * GROUP_COLS..((q + 1) * GROUP_COLS).min(m)];

    // Checkpoints: the carries into the first word of each block (block 0: none).
    let cp_words = n.div_ceil(64);
    s.checkpoints.clear();
    s.checkpoints.resize(blocks * cp_words, 0);
    s.carry.clear();
    s.carry.resize(n, 0);
    for b in 1..blocks {
        for q in (b - 1) * per_block..b * per_block {
            let cols = group_cols(q);
            s.set_masks(cols);
            run_group::<false>(reference, &s.masks, &mut s.carry, &mut [], &mut [], 0);
            s.clear_masks(cols);
        }
        let cp = &mut s.checkpoints[b * cp_words..(b + 1) * cp_words];
        for (r, &c) in s.carry.iter().enumerate() {
            cp[r / 64] |= (c as u64) << (r % 64);
        }
    }

    let stride = n + 1;
    s.block_v.clear();
    s.block_v.resize(block_words * stride, !0);
    s.block_c.clear();
    s.block_c.resize(block_words * stride, 0);
    let mut current = usize::MAX;
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        if reference[i - 1] == can[j - 1] {
            marks[i - 1] = true;
            i -= 1;
            j -= 1;
            continue;
        }
        let w = (j - 1) / 64;
        let b = w / block_words;
        if b != current {
            // Rows 1..=i of block b, from its checkpoint.
            let cp = &s.checkpoints[b * cp_words..(b + 1) * cp_words];
            for (r, c) in s.carry[..i].iter_mut().enumerate() {
                *c = ((cp[r / 64] >> (r % 64)) & 1) as u8;
            }
            for q in b * per_block..((b + 1) * per_block).min(groups) {
                let cols = group_cols(q);
                let off = (q - b * per_block) * G * stride;
                s.set_masks(cols);
                run_group::<true>(
                    &reference[..i],
                    &s.masks,
                    &mut s.carry[..i],
                    &mut s.block_v[off..],
                    &mut s.block_c[off..],
                    stride,
                );
                s.clear_masks(cols);
            }
            current = b;
        }
        let base = (w - b * block_words) * stride;
        let bits = j - 64 * w; // columns of word w up to and including j: 1..=64
        let below = if bits == 64 {
            !0u64
        } else {
            (1u64 << bits) - 1
        };
        let v_i = s.block_v[base + i];
        let v_up = s.block_v[base + i - 1];
        // T[i][j] == T[i][j-1]
        let flat_left = (v_i >> (bits - 1)) & 1 == 1;
        // T[i][j] - T[i-1][j]
        let up_step = s.block_c[base + i] as i64 + (v_up & below).count_ones() as i64
            - (v_i & below).count_ones() as i64;
        if flat_left && up_step == 1 {
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

    /// The quadratic DP (two rows) the bit-parallel LCS must agree with.
    fn lcs_len_reference(a: &[u32], b: &[u32]) -> usize {
        let mut prev = vec![0usize; b.len() + 1];
        let mut cur = vec![0usize; b.len() + 1];
        for &x in a {
            for (j, &y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    prev[j + 1].max(cur[j])
                };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    /// `rouge_score`'s `_lcs_table` + `_backtrack_norec`, with the full table.
    fn mark_lcs_reference(reference: &[u32], can: &[u32], marks: &mut [bool]) {
        let (rows, cols) = (reference.len(), can.len());
        let w = cols + 1;
        let mut t = vec![0u32; (rows + 1) * w];
        for i in 1..=rows {
            for j in 1..=cols {
                t[i * w + j] = if reference[i - 1] == can[j - 1] {
                    t[(i - 1) * w + j - 1] + 1
                } else {
                    t[(i - 1) * w + j].max(t[i * w + j - 1])
                };
            }
        }
        let (mut i, mut j) = (rows, cols);
        while i > 0 && j > 0 {
            if reference[i - 1] == can[j - 1] {
                marks[i - 1] = true;
                i -= 1;
                j -= 1;
            } else if t[i * w + j - 1] > t[(i - 1) * w + j] {
                j -= 1;
            } else {
                i -= 1;
            }
        }
    }

    fn random_ids(rng: &mut impl rand::Rng, len: usize, alphabet: u32) -> Vec<u32> {
        (0..len).map(|_| rng.gen_range(0..alphabet)).collect()
    }

    /// Lengths around the word and group edges, small alphabets (many repeated
    /// tokens, many ties in the traceback) and large ones, empty sides.
    fn random_pair(rng: &mut impl rand::Rng) -> (Vec<u32>, Vec<u32>, usize) {
        const EDGES: [usize; 12] = [0, 1, 2, 63, 64, 65, 255, 256, 257, 511, 512, 513];
        fn len(rng: &mut impl rand::Rng) -> usize {
            match rng.gen_range(0..4) {
                0 => EDGES[rng.gen_range(0..EDGES.len())],
                1 => rng.gen_range(0..20),
                2 => rng.gen_range(0..300),
                _ => rng.gen_range(0..1500),
            }
        }
        let (n, m) = (len(rng), len(rng));
        let alphabet = [1u32, 2, 3, 4, 8, 30, 500][rng.gen_range(0..7)];
        let a = random_ids(rng, n, alphabet);
        let b = random_ids(rng, m, alphabet);
        (a, b, alphabet as usize)
    }

    #[test]
    fn bit_parallel_lcs_len_matches_the_quadratic_dp() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for _ in 0..600 {
            let (a, b, k) = random_pair(&mut rng);
            let mut scratch = LcsScratch::new(k);
            let want = lcs_len_reference(&a, &b);
            assert_eq!(lcs_len(&a, &b, &mut scratch), want, "{a:?} {b:?}");
            assert_eq!(lcs_len(&b, &a, &mut scratch), want, "{b:?} {a:?}");
            assert!(scratch.masks.iter().all(|m| *m == [0; G]));
        }
    }

    #[test]
    fn union_lcs_traceback_matches_rouge_scores_table_walk() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for case in 0..600 {
            let (a, b, k) = random_pair(&mut rng);
            let mut scratch = LcsScratch::new(k);
            let mut want = vec![false; a.len()];
            mark_lcs_reference(&a, &b, &mut want);
            let mut got = vec![false; a.len()];
            mark_lcs(&a, &b, &mut scratch, &mut got);
            assert_eq!(got, want, "case {case}: {a:?} {b:?}");
            assert!(scratch.masks.iter().all(|m| *m == [0; G]));
            // Marks accumulate over the sentences of a summary.
            let c = random_ids(&mut rng, b.len() / 2 + 3, k as u32);
            mark_lcs_reference(&a, &c, &mut want);
            mark_lcs(&a, &c, &mut scratch, &mut got);
            assert_eq!(got, want, "case {case} (second sentence)");
        }
    }

    #[test]
    fn union_lcs_traceback_with_several_groups_per_block() {
        // 170,000 columns = 2,657 words: two groups (eight words) per block.
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let m: usize = 170_000;
        assert_eq!(block_groups(m.div_ceil(64)), 2);
        for (n, alphabet) in [(1, 2), (9, 3), (40, 20), (25, 400)] {
            let a = random_ids(&mut rng, n, alphabet);
            let b = random_ids(&mut rng, m, alphabet);
            let mut scratch = LcsScratch::new(alphabet as usize);
            let mut want = vec![false; n];
            mark_lcs_reference(&a, &b, &mut want);
            let mut got = vec![false; n];
            mark_lcs(&a, &b, &mut scratch, &mut got);
            assert_eq!(got, want, "n {n} alphabet {alphabet}");
            // And with the long side as the reference (one checkpoint block per group).
            let c = random_ids(&mut rng, n, alphabet);
            let (mut want, mut got) = (vec![false; m], vec![false; m]);
            mark_lcs_reference(&b, &c, &mut want);
            mark_lcs(&b, &c, &mut scratch, &mut got);
            assert_eq!(got, want, "reference of {m} tokens, n {n}");
        }
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
