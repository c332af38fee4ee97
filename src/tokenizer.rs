//! The model's fast tokenizer (`tokenizer.json`) as Transformers calls it:
//! special tokens added, optional truncation that keeps them, decoding without them.
//!
//! A truncating [`TextTokenizer::encode`] of a long text tokenizes only as much
//! of it as the kept tokens can come from (see [`CutSafety`]), with exactly the
//! ids of tokenizing all of it.
use crate::error::{Error, Result};
use crate::hub::ModelFiles;
use std::path::{Path, PathBuf};
use tokenizers::models::ModelWrapper;
use tokenizers::PostProcessor as _;
use tokenizers::{
    NormalizerWrapper, PreTokenizerWrapper, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

/// Which end of a too-long text is cut (Transformers' `truncation_side`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TruncationSide {
    /// Keep the beginning of the text.
    #[default]
    Right,
    /// Keep the end of the text.
    Left,
}

#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    clean_up_spaces: bool,
    side: TruncationSide,
    cut: CutSafety,
}

/// Initial bytes of text tokenized per kept token when truncating a long text
/// (doubled until the piece gives enough tokens).
const WINDOW_BYTES_PER_TOKEN: usize = 32;
/// The smallest piece worth cutting.
const MIN_WINDOW_BYTES: usize = 4096;

/// Whether cutting a text at a "safe cut" leaves the tokens on the kept side
/// unchanged, so that truncation may tokenize only that side.
///
/// A safe cut is an ASCII space (U+0020) with an ASCII graphic character
/// (`!`..=`~`) on each side: the prefix ends before the space, the suffix
/// starts with it. With the normalizers, pre-tokenizers and models admitted by
/// [`CutSafety::of`], every step treats such a space as a boundary nothing
/// crosses: the normalizers work per character (or per grapheme cluster, and
/// the space is one between ASCII characters), an added token contains no
/// whitespace, at least one pre-tokenizer splits at the space (BERT's,
/// `Whitespace`, `WhitespaceSplit`, byte-level with its regex, whose matches
/// all end before a space that precedes a non-space, and `Metaspace` with
/// `split`), the others only split further, and the model encodes each
/// pre-token on its own. The suffix keeps its leading space, so byte-level's
/// "Ġword" and Metaspace's "▁word" come out as in the whole text. So the
/// prefix's tokens are the first tokens of the whole text and the suffix's
/// tokens its last ones; once a piece gives at least as many tokens as are
/// kept, truncating it gives the same ids as truncating the whole text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CutSafety {
    /// A prefix may stand for the whole text (right truncation).
    prefix: bool,
    /// A suffix may stand for the whole text (left truncation): additionally no
    /// added token strips the whitespace to its right.
    suffix: bool,
}

impl CutSafety {
    fn of(tokenizer: &Tokenizer) -> Self {
        fn normalizer_ok(n: &NormalizerWrapper) -> bool {
            match n {
                NormalizerWrapper::BertNormalizer(_)
                | NormalizerWrapper::Lowercase(_)
                | NormalizerWrapper::NFC(_)
                | NormalizerWrapper::NFD(_)
                | NormalizerWrapper::NFKC(_)
                | NormalizerWrapper::NFKD(_)
                | NormalizerWrapper::StripAccents(_)
                | NormalizerWrapper::Nmt(_)
                | NormalizerWrapper::Precompiled(_) => true,
                NormalizerWrapper::Sequence(seq) => seq.as_ref().iter().all(normalizer_ok),
                // Strip, Prepend and Replace see the ends of the text or
                // patterns across spaces; byte-level normalization is unusual.
                _ => false,
            }
        }
        /// `Some(splits at a safe cut)` for an admitted pre-tokenizer.
        fn pre_tokenizer_ok(p: &PreTokenizerWrapper) -> Option<bool> {
            match p {
                PreTokenizerWrapper::BertPreTokenizer(_)
                | PreTokenizerWrapper::Whitespace(_)
                | PreTokenizerWrapper::WhitespaceSplit(_) => Some(true),
                PreTokenizerWrapper::ByteLevel(b) if b.use_regex => Some(true),
                PreTokenizerWrapper::Metaspace(m) if m.get_split() => Some(true),
                PreTokenizerWrapper::Punctuation(_) | PreTokenizerWrapper::Digits(_) => Some(false),
                PreTokenizerWrapper::Sequence(seq) => {
                    let mut splits = false;
                    for p in seq.as_ref() {
                        splits |= pre_tokenizer_ok(p)?;
                    }
                    Some(splits)
                }
                _ => None,
            }
        }
        let normalizer = tokenizer.get_normalizer().is_none_or(normalizer_ok);
        let pre_tokenizer = tokenizer
            .get_pre_tokenizer()
            .and_then(pre_tokenizer_ok)
            .unwrap_or(false);
        let model = match tokenizer.get_model() {
            ModelWrapper::BPE(bpe) => bpe.dropout.is_none(),
            ModelWrapper::WordPiece(_) | ModelWrapper::WordLevel(_) | ModelWrapper::Unigram(_) => {
                true
            }
        };
        let added = tokenizer.get_added_tokens_decoder();
        let added_ok = added
            .values()
            .all(|t| !t.content.is_empty() && !t.content.chars().any(char::is_whitespace));
        let prefix = normalizer && pre_tokenizer && model && added_ok;
        CutSafety {
            prefix,
            suffix: prefix && added.values().all(|t| !t.rstrip),
        }
    }
}

/// Whether byte `p` of `bytes` is a safe cut (see [`CutSafety`]).
fn is_safe_cut(bytes: &[u8], p: usize) -> bool {
    p > 0
        && p + 1 < bytes.len()
        && bytes[p] == b' '
        && bytes[p - 1].is_ascii_graphic()
        && bytes[p + 1].is_ascii_graphic()
}

/// The longest prefix of `text` of at most `bytes` bytes that ends at a safe cut.
fn prefix_at_cut(text: &str, bytes: usize) -> Option<&str> {
    let b = text.as_bytes();
    (1..=bytes.min(b.len().saturating_sub(1)))
        .rev()
        .find(|&p| is_safe_cut(b, p))
        .map(|p| &text[..p])
}

/// The longest suffix of `text` of at most `bytes` bytes that starts at a safe cut.
fn suffix_at_cut(text: &str, bytes: usize) -> Option<&str> {
    let b = text.as_bytes();
    (b.len().saturating_sub(bytes)..b.len())
        .find(|&p| is_safe_cut(b, p))
        .map(|p| &text[p..])
}

impl TextTokenizer {
    pub fn load(files: &ModelFiles) -> Result<Self> {
        let mut inner = Tokenizer::from_file(&files.tokenizer).map_err(|e| Error::Tokenizer {
            path: files.tokenizer.clone(),
            message: e.to_string(),
        })?;
        inner.with_padding(None);
        let clean_up_spaces = files
            .tokenizer_config
            .as_deref()
            .and_then(|p| read_clean_up_flag(p).ok().flatten())
            .unwrap_or(false);
        let cut = CutSafety::of(&inner);
        let mut tokenizer = Self {
            inner,
            path: files.tokenizer.clone(),
            clean_up_spaces,
            side: TruncationSide::Right,
            cut,
        };
        tokenizer.set_max_length(None)?;
        tokenizer.check_fits_model(&files.config)?;
        Ok(tokenizer)
    }

    /// Refuses a tokenizer that produces ids the model has no embedding for (config.json's
    /// `vocab_size`): caught here, not as an index error deep inside the first forward pass.
    fn check_fits_model(&self, config: &Path) -> Result<()> {
        let Ok(text) = std::fs::read_to_string(config) else {
            return Ok(()); // the model loader reports an unreadable config.json
        };
        let vocab_size = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("vocab_size").and_then(|n| n.as_u64()));
        let largest = self.inner.get_vocab(true).into_values().max();
        if let (Some(vocab_size), Some(largest)) = (vocab_size, largest) {
            if u64::from(largest) >= vocab_size {
                return Err(self.error(format!(
                    "has token ids up to {largest}, but {} gives the model only {vocab_size} \
                     embeddings (vocab_size): the tokenizer does not belong to this model",
                    config.display()
                )));
            }
        }
        Ok(())
    }

    /// `tokenizer(text, truncation=True, max_length=n)`; `None` turns truncation off.
    pub(crate) fn set_max_length(&mut self, max_length: Option<usize>) -> Result<()> {
        let specials = self
            .inner
            .get_post_processor()
            .map(|p| p.added_tokens(false))
            .unwrap_or(0);
        // (The tokenizers crate would panic below the special tokens' count, and read 0 as
        // "no limit".)
        if let Some(max_length) = max_length.filter(|&n| n == 0 || n < specials) {
            return Err(self.error(format!(
                "a maximum of {max_length} tokens is too small: the tokenizer adds {specials} \
                 special tokens to every input"
            )));
        }
        let params = max_length.map(|max_length| TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: match self.side {
                TruncationSide::Right => TruncationDirection::Right,
                TruncationSide::Left => TruncationDirection::Left,
            },
        });
        let path = self.path.clone();
        self.inner
            .with_truncation(params)
            .map_err(|e| Error::Tokenizer {
                path,
                message: e.to_string(),
            })?;
        Ok(())
    }

    /// A copy that truncates at `side` from now on (special tokens are always kept).
    pub(crate) fn with_truncation_side(&self, side: TruncationSide) -> Self {
        let mut copy = self.clone();
        copy.side = side;
        copy
    }

    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        let mut copy = self.clone();
        copy.set_max_length(Some(max_length))?;
        Ok(copy)
    }

    /// `tokenizer(text)["input_ids"]`, truncated if a maximum length is set. A
    /// long text that is truncated is tokenized only in part when that gives the
    /// same ids (a prefix for right truncation, a suffix for left, see
    /// [`CutSafety`]): `--max-tokens 16` on a 5 MB line reads a few kB of it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        if let Some(ids) = self.encode_piece(text) {
            return Ok(ids);
        }
        self.encode_all(text)
    }

    fn encode_all(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The truncated ids of `text` from a piece of it, or `None` where that
    /// does not apply (no truncation, a short text, a tokenizer not known to
    /// allow it, no piece giving enough tokens short of the whole text).
    fn encode_piece(&self, text: &str) -> Option<Vec<u32>> {
        // The parameters in force, whatever set them.
        let params = self.inner.get_truncation()?;
        let max_length = params.max_length;
        let prefix = match params.direction {
            TruncationDirection::Right => true,
            TruncationDirection::Left => false,
        };
        let safe = if prefix {
            self.cut.prefix
        } else {
            self.cut.suffix
        };
        if !safe || max_length == 0 || params.stride != 0 {
            return None;
        }
        let mut bytes = max_length
            .saturating_mul(WINDOW_BYTES_PER_TOKEN)
            .max(MIN_WINDOW_BYTES);
        while bytes < text.len() {
            let piece = if prefix {
                prefix_at_cut(text, bytes)
            } else {
                suffix_at_cut(text, bytes)
            };
            // An error (such as a length below the special tokens') is left to
            // the whole text to report.
            if let Some(Ok(ids)) = piece.map(|p| self.encode_all(p)) {
                // Truncated to `max_length`: the piece had enough tokens.
                if ids.len() >= max_length {
                    return Some(ids);
                }
            }
            bytes = bytes.saturating_mul(2);
        }
        None
    }

    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// `tokenizer.decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| self.error(e.to_string()))?;
        Ok(if self.clean_up_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn error(&self, message: String) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            message,
        }
    }
}

fn read_clean_up_flag(path: &Path) -> Result<Option<bool>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    clean_up_flag(&text, path)
}

/// `clean_up_tokenization_spaces` of a `tokenizer_config.json`'s text (the one key loratune
/// reads from it); errors name `path`.
pub fn clean_up_flag(text: &str, path: &Path) -> Result<Option<bool>> {
    let value: serde_json::Value = crate::hub::parse_json(text, path)?;
    Ok(value
        .get("clean_up_tokenization_spaces")
        .and_then(|v| v.as_bool()))
}

/// Transformers' `clean_up_tokenization`: removes spaces before punctuation and contractions.
pub(crate) fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_tokenizer() -> TextTokenizer {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/distilbert/cls2"
        );
        TextTokenizer::load(&crate::hub::resolve_model(dir).unwrap()).unwrap()
    }

    fn load_dir(dir: &Path) -> TextTokenizer {
        let tokenizer = dir.join("tokenizer.json");
        assert!(tokenizer.is_file(), "{} is missing", tokenizer.display());
        let config = dir.join("tokenizer_config.json");
        let files = ModelFiles {
            reference: dir.display().to_string(),
            config: dir.join("config.json"),
            weights: Vec::new(),
            tokenizer,
            tokenizer_config: config.is_file().then_some(config),
            generation_config: None,
            extra: Vec::new(),
        };
        TextTokenizer::load(&files).unwrap()
    }

    /// WordPiece (BERT), Unigram (T5), byte-level BPE (RoBERTa) and the real
    /// MiniLM tokenizer in ../shared (required: the test fails without it).
    fn tokenizers_under_test() -> Vec<(&'static str, TextTokenizer)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixtures = root.join("tests/fixtures");
        vec![
            (
                "bert_wordpiece",
                load_dir(&fixtures.join("tokenizers/bert_wordpiece")),
            ),
            (
                "t5_unigram",
                load_dir(&fixtures.join("tokenizers/t5_unigram")),
            ),
            ("roberta", load_dir(&fixtures.join("roberta/tiny"))),
            (
                "all-MiniLM-L6-v2",
                load_dir(&root.join("../shared/models/all-MiniLM-L6-v2")),
            ),
        ]
    }

    /// About `bytes` bytes of mixed text: words, punctuation, digits,
    /// contractions, accents and combining marks, CJK, emoji, Greek capitals
    /// (final sigma), special-token strings, over-long words, and separators
    /// from none at all to runs of spaces, tabs, newlines and no-break spaces.
    fn mixed_text(seed: u64, bytes: usize) -> String {
        use rand::{Rng, SeedableRng};
        const PIECES: [&str; 32] = [
            "the",
            "film",
            "Starts",
            "slowly.",
            "don't",
            "it's",
            "we'll",
            "12345",
            "3.14",
            "U.S.A.",
            "café",
            "naïve",
            "e\u{301}cole",
            "東京タワー",
            "😀",
            "ΟΔΟΣ",
            "Σ",
            "[SEP]",
            "[MASK]",
            "<mask>",
            "</s>",
            "<s>",
            "https://example.com/a?b=c",
            "(parenthesised)",
            "--",
            "...",
            "İstanbul",
            "\u{200b}",
            "x",
            "reallylongword",
            "\u{0600}",
            "—",
        ];
        const SEPARATORS: [&str; 9] = [" ", " ", " ", "  ", "", "\n", "\t", " \u{a0} ", " \n "];
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut text = String::new();
        while text.len() < bytes {
            if rng.gen_range(0..50) == 0 {
                text.push_str(&"y".repeat(rng.gen_range(90..200)));
            } else {
                text.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
            }
            text.push_str(SEPARATORS[rng.gen_range(0..SEPARATORS.len())]);
        }
        text
    }

    #[test]
    fn truncating_a_piece_of_a_long_text_gives_the_ids_of_the_whole_text() {
        let texts = [
            mixed_text(1, 60_000),
            mixed_text(2, 40_000),
            // No safe cut in the first 42 kB: the piece has to grow.
            format!("{}{}", "東京".repeat(7_000), mixed_text(3, 30_000)),
            // Over-long words: one [UNK] per 150 bytes with WordPiece.
            vec!["w".repeat(150); 600].join(" "),
        ];
        for (name, tokenizer) in tokenizers_under_test() {
            assert!(tokenizer.cut.prefix && tokenizer.cut.suffix, "{name}");
            for side in [TruncationSide::Right, TruncationSide::Left] {
                for max in [2, 3, 16, 512] {
                    let tok = tokenizer
                        .with_truncation_side(side)
                        .with_max_length(max)
                        .unwrap();
                    for (t, text) in texts.iter().enumerate() {
                        let whole = tok.encode_all(text);
                        let got = tok.encode(text);
                        let what = format!("{name} {side:?} max {max} text {t}");
                        match (&whole, &got) {
                            (Ok(w), Ok(g)) => assert_eq!(g, w, "{what}"),
                            (Err(_), Err(_)) => {}
                            _ => panic!("{what}: {got:?} vs {whole:?}"),
                        }
                        // The shortcut was taken where it should be.
                        if whole.as_ref().is_ok_and(|w| w.len() == max) && t < 2 {
                            assert!(tok.encode_piece(text).is_some(), "{what}");
                        }
                    }
                }
            }
        }
    }

    /// The property the shortcut rests on, at every safe cut of a mixed text:
    /// the tokens of the part before it are the first tokens of the whole
    /// text, those of the part from it on the last ones.
    #[test]
    fn safe_cuts_split_the_tokens_of_the_whole_text() {
        let tokens = |tok: &TextTokenizer, text: &str| -> Vec<u32> {
            tok.inner.encode(text, false).unwrap().get_ids().to_vec()
        };
        for (name, tokenizer) in tokenizers_under_test() {
            for seed in [10, 11] {
                let text = mixed_text(seed, 8_000);
                let whole = tokens(&tokenizer, &text);
                let cuts: Vec<usize> = (0..text.len())
                    .filter(|&p| is_safe_cut(text.as_bytes(), p))
                    .collect();
                assert!(cuts.len() > 100, "{}", cuts.len());
                for p in cuts {
                    let head = tokens(&tokenizer, &text[..p]);
                    let tail = tokens(&tokenizer, &text[p..]);
                    assert_eq!(head[..], whole[..head.len()], "{name} before {p}");
                    assert_eq!(
                        tail[..],
                        whole[whole.len() - tail.len()..],
                        "{name} from {p}"
                    );
                    assert_eq!(head.len() + tail.len(), whole.len(), "{name} at {p}");
                }
            }
        }
    }

    #[test]
    fn texts_without_a_safe_cut_or_short_texts_are_tokenized_whole() {
        for (name, tokenizer) in tokenizers_under_test() {
            let tok = tokenizer.with_max_length(16).unwrap();
            let cjk = "東京タワー".repeat(10_000);
            assert!(tok.encode_piece(&cjk).is_none(), "{name}");
            assert_eq!(tok.encode(&cjk).unwrap(), tok.encode_all(&cjk).unwrap());
            let short = mixed_text(4, 1_000);
            assert!(tok.encode_piece(&short).is_none(), "{name}");
            // No truncation: nothing to cut.
            assert!(tokenizer.encode_piece(&mixed_text(5, 50_000)).is_none());
        }
    }

    #[test]
    fn cut_safety_refuses_pipelines_that_see_across_spaces() {
        use tokenizers::models::wordlevel::WordLevel;
        use tokenizers::normalizers::{Prepend, Strip};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
        use tokenizers::pre_tokenizers::punctuation::Punctuation;
        use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
        use tokenizers::AddedToken;
        let base = || {
            let mut t = Tokenizer::new(WordLevel::default());
            t.with_pre_tokenizer(Some(WhitespaceSplit));
            t
        };
        let both = CutSafety {
            prefix: true,
            suffix: true,
        };
        assert_eq!(CutSafety::of(&base()), both);
        let mut t = base();
        t.with_pre_tokenizer(None::<WhitespaceSplit>);
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        t.with_pre_tokenizer(Some(Punctuation::default()));
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        t.with_pre_tokenizer(Some(ByteLevel::default().use_regex(false)));
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        t.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, false)));
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        let mut t = base();
        t.with_normalizer(Some(Strip::new(true, true)));
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        t.with_normalizer(Some(Prepend::new("▁".into())));
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        let mut t = base();
        t.add_tokens(&[AddedToken::from("new york", false)]);
        assert_eq!(CutSafety::of(&t), CutSafety::default());
        let mut t = base();
        t.add_special_tokens(&[AddedToken::from("<x>", true).rstrip(true)]);
        assert_eq!(
            CutSafety::of(&t),
            CutSafety {
                prefix: true,
                suffix: false
            }
        );
    }

    #[test]
    fn safe_cuts() {
        assert_eq!(prefix_at_cut("ab cd ef", 4), Some("ab"));
        assert_eq!(prefix_at_cut("ab cd ef", 5), Some("ab cd"));
        assert_eq!(prefix_at_cut("ab cd ef", 100), Some("ab cd"));
        assert_eq!(prefix_at_cut("", 100), None);
        assert_eq!(prefix_at_cut("ab  cd ef", 5), None);
        assert_eq!(prefix_at_cut("é cd ef", 8), Some("é cd"));
        assert_eq!(prefix_at_cut("é cd", 4), None);
        assert_eq!(suffix_at_cut("ab cd ef", 6), Some(" cd ef"));
        assert_eq!(suffix_at_cut("ab cd ef", 4), Some(" ef"));
        assert_eq!(suffix_at_cut("ab cd ef", 2), None);
        assert_eq!(suffix_at_cut("ab cd é", 5), None);
        assert_eq!(suffix_at_cut("", 5), None);
    }

    #[test]
    fn left_truncation_keeps_the_end_and_the_special_tokens() {
        let tokenizer = fixture_tokenizer();
        let text =
            "the film starts slowly . the middle drags on and on . but the ending is wonderful";
        let full = tokenizer.encode(text).unwrap();
        assert!(full.len() > 8);
        let right = tokenizer.with_max_length(8).unwrap().encode(text).unwrap();
        let left = tokenizer
            .with_truncation_side(TruncationSide::Left)
            .with_max_length(8)
            .unwrap()
            .encode(text)
            .unwrap();
        assert_eq!(right.len(), 8);
        assert_eq!(left.len(), 8);
        let (first, last) = (full[0], full[full.len() - 1]);
        assert_eq!((left[0], left[7]), (first, last));
        assert_eq!((right[0], right[7]), (first, last));
        assert_eq!(right[1..7], full[1..7]);
        assert_eq!(left[1..7], full[full.len() - 7..full.len() - 1]);
    }
}
