//! NLTK's Porter stemmer (`nltk.stem.porter.PorterStemmer`) in its default
//! `NLTK_EXTENSIONS` mode, reimplemented from the algorithm description.
//!
//! This is the stemmer that Google's `rouge_score` uses when
//! `use_stemmer=True`. It differs from Martin Porter's reference
//! implementation (and a lot from Snowball's Porter2 / "English" stemmer, which
//! is what `rust-stemmers` implements) in a handful of places:
//!
//! * a small table of irregular forms (`skies` -> `sky`, `dying` -> `die`, ...),
//! * words of one or two characters are returned unchanged (lowercased),
//! * step 1a: a four letter word ending in `ies` becomes `...ie` (`ties` -> `tie`),
//! * step 1b: `ied` becomes `ie` in four letter words and `i` otherwise,
//! * step 1c: `y` -> `i` only when preceded by a consonant that is not the
//!   first letter of the word (`happy` -> `happi`, `enjoy` -> `enjoy`, `spy` -> `spi`),
//! * step 2: `alli` -> `al` is tried first and, if it fires, step 2 is run again;
//!   `bli` -> `ble` (instead of `abli` -> `able`), plus `fulli` -> `ful` and
//!   `logi` -> `log` (whose measure condition includes the `l`),
//! * the `*o` (cvc) condition also holds for a two letter vowel-consonant stem.
//!
//! Everything operates on Unicode scalar values, like Python's `str`, so the
//! output matches NLTK for any input. Only `a e i o u` are vowels; `y` is a
//! vowel when it follows a consonant; every other character (digits,
//! non-ASCII letters, ...) counts as a consonant.

/// The irregular forms table of NLTK's `NLTK_EXTENSIONS` mode: word -> stem.
const IRREGULAR_FORMS: &[(&str, &str)] = &[
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

/// NLTK's Porter stemmer in `NLTK_EXTENSIONS` mode (the default of
/// `nltk.stem.porter.PorterStemmer()`). Stateless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PorterStemmer;

/// Stems `word` exactly like `nltk.stem.porter.PorterStemmer().stem(word)`
/// (which lowercases the word first).
#[cfg(test)]
fn stem(word: &str) -> String {
    PorterStemmer.stem(word)
}

impl PorterStemmer {
    pub fn new() -> Self {
        PorterStemmer
    }

    /// Equivalent to `PorterStemmer().stem(word)` (with `to_lowercase=True`).
    pub fn stem(&self, word: &str) -> String {
        let lower = word.to_lowercase();
        if let Some(&(_, s)) = IRREGULAR_FORMS.iter().find(|(w, _)| *w == lower) {
            return s.to_string();
        }
        // NLTK checks the length of the word *before* lowercasing.
        if word.chars().count() <= 2 {
            return lower;
        }
        let mut w: Vec<char> = lower.chars().collect();
        w = step1a(w);
        w = step1b(w);
        w = step1c(w);
        w = step2(w);
        w = step3(w);
        w = step4(w);
        w = step5a(w);
        w = step5b(w);
        w.into_iter().collect()
    }
}

// ---------------------------------------------------------------------------
// Letter classes and conditions.

#[inline]
fn is_vowel_letter(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Porter's consonant: not a vowel letter, and `y` only when it starts the
/// word or follows a vowel. Iterative over runs of `y`.
fn is_consonant(w: &[char], i: usize) -> bool {
    let c = w[i];
    if is_vowel_letter(c) {
        return false;
    }
    if c != 'y' {
        return true;
    }
    let mut i = i;
    let mut negate = false;
    while i > 0 && w[i] == 'y' {
        negate = !negate;
        i -= 1;
    }
    // consonant(w[i]) xor negate
    is_vowel_letter(w[i]) == negate
}

/// The measure `m` of `[C](VC){m}[V]`: the number of vowel->consonant transitions.
fn measure(w: &[char]) -> usize {
    let mut m = 0;
    let mut prev_cons = true; // the value before the first letter is irrelevant
    let mut prev_vowel = false;
    for (i, &c) in w.iter().enumerate() {
        let cons = if is_vowel_letter(c) {
            false
        } else if c == 'y' {
            if i == 0 {
                true
            } else {
                !prev_cons
            }
        } else {
            true
        };
        if cons && prev_vowel {
            m += 1;
        }
        prev_vowel = !cons;
        prev_cons = cons;
    }
    m
}

fn contains_vowel(w: &[char]) -> bool {
    let mut prev_cons = true;
    for (i, &c) in w.iter().enumerate() {
        let cons = if is_vowel_letter(c) {
            false
        } else if c == 'y' {
            if i == 0 {
                true
            } else {
                !prev_cons
            }
        } else {
            true
        };
        if !cons {
            return true;
        }
        prev_cons = cons;
    }
    false
}

/// Condition `*d`: ends with a double consonant.
fn ends_double_consonant(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// Condition `*o` (with NLTK's two-letter extension).
fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], 'w' | 'x' | 'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let n = suffix.chars().count();
    n <= w.len() && w[w.len() - n..].iter().copied().eq(suffix.chars())
}

/// `word` with `suffix` (known to be present) replaced by `replacement`.
fn replace_suffix(mut w: Vec<char>, suffix: &str, replacement: &str) -> Vec<char> {
    let n = suffix.chars().count();
    w.truncate(w.len() - n);
    w.extend(replacement.chars());
    w
}

#[derive(Clone, Copy)]
enum Cond {
    /// m(stem) > 0
    PositiveMeasure,
    /// m(stem) > 1
    MeasureGt1,
    /// m(stem) > 1 and stem ends with `s` or `t` (step 4 `ion`)
    Ion,
    /// m(stem + "l") > 0 (NLTK's step 2 `logi` rule)
    Logi,
}

fn check(cond: Cond, stem: &[char]) -> bool {
    match cond {
        Cond::PositiveMeasure => measure(stem) > 0,
        Cond::MeasureGt1 => measure(stem) > 1,
        Cond::Ion => measure(stem) > 1 && matches!(stem.last(), Some('s' | 't')),
        Cond::Logi => {
            let mut with_l = stem.to_vec();
            with_l.push('l');
            measure(&with_l) > 0
        }
    }
}

/// Applies the first rule whose suffix matches; if its condition fails the word
/// is returned unchanged and no later rule is tried.
fn apply_rules(w: Vec<char>, rules: &[(&str, &str, Option<Cond>)]) -> Vec<char> {
    for &(suffix, replacement, cond) in rules {
        if ends_with(&w, suffix) {
            let stem_len = w.len() - suffix.chars().count();
            let ok = match cond {
                None => true,
                Some(c) => check(c, &w[..stem_len]),
            };
            return if ok {
                replace_suffix(w, suffix, replacement)
            } else {
                w
            };
        }
    }
    w
}

// ---------------------------------------------------------------------------
// Steps.

fn step1a(w: Vec<char>) -> Vec<char> {
    if w.len() == 4 && ends_with(&w, "ies") {
        return replace_suffix(w, "ies", "ie");
    }
    apply_rules(
        w,
        &[
            ("sses", "ss", None),
            ("ies", "i", None),
            ("ss", "ss", None),
            ("s", "", None),
        ],
    )
}

fn step1b(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "ied") {
        return if w.len() == 4 {
            replace_suffix(w, "ied", "ie")
        } else {
            replace_suffix(w, "ied", "i")
        };
    }
    if ends_with(&w, "eed") {
        return if measure(&w[..w.len() - 3]) > 0 {
            replace_suffix(w, "eed", "ee")
        } else {
            w
        };
    }
    let mut inter: Option<Vec<char>> = None;
    for suffix in ["ed", "ing"] {
        if ends_with(&w, suffix) {
            let stem = &w[..w.len() - suffix.chars().count()];
            if contains_vowel(stem) {
                inter = Some(stem.to_vec());
                break;
            }
        }
    }
    let Some(mut s) = inter else {
        return w;
    };
    // AT -> ATE, BL -> BLE, IZ -> IZE
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if ends_with(&s, suffix) {
            return replace_suffix(s, suffix, replacement);
        }
    }
    // (*d and not (*L or *S or *Z)) -> single letter
    if ends_double_consonant(&s) {
        let last = *s.last().unwrap();
        if !matches!(last, 'l' | 's' | 'z') {
            s.pop();
        }
        return s;
    }
    // (m=1 and *o) -> E
    if measure(&s) == 1 && ends_cvc(&s) {
        s.push('e');
    }
    s
}

fn step1c(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "y") {
        let n = w.len() - 1;
        if n > 1 && is_consonant(&w, n - 1) {
            return replace_suffix(w, "y", "i");
        }
    }
    w
}

fn step2(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "alli") && measure(&w[..w.len() - 4]) > 0 {
        return step2(replace_suffix(w, "alli", "al"));
    }
    use Cond::PositiveMeasure as P;
    apply_rules(
        w,
        &[
            ("ational", "ate", Some(P)),
            ("tional", "tion", Some(P)),
            ("enci", "ence", Some(P)),
            ("anci", "ance", Some(P)),
            ("izer", "ize", Some(P)),
            ("bli", "ble", Some(P)),
            ("alli", "al", Some(P)),
            ("entli", "ent", Some(P)),
            ("eli", "e", Some(P)),
            ("ousli", "ous", Some(P)),
            ("ization", "ize", Some(P)),
            ("ation", "ate", Some(P)),
            ("ator", "ate", Some(P)),
            ("alism", "al", Some(P)),
            ("iveness", "ive", Some(P)),
            ("fulness", "ful", Some(P)),
            ("ousness", "ous", Some(P)),
            ("aliti", "al", Some(P)),
            ("iviti", "ive", Some(P)),
            ("biliti", "ble", Some(P)),
            ("fulli", "ful", Some(P)),
            ("logi", "log", Some(Cond::Logi)),
        ],
    )
}

fn step3(w: Vec<char>) -> Vec<char> {
    use Cond::PositiveMeasure as P;
    apply_rules(
        w,
        &[
            ("icate", "ic", Some(P)),
            ("ative", "", Some(P)),
            ("alize", "al", Some(P)),
            ("iciti", "ic", Some(P)),
            ("ical", "ic", Some(P)),
            ("ful", "", Some(P)),
            ("ness", "", Some(P)),
        ],
    )
}

fn step4(w: Vec<char>) -> Vec<char> {
    use Cond::MeasureGt1 as M;
    apply_rules(
        w,
        &[
            ("al", "", Some(M)),
            ("ance", "", Some(M)),
            ("ence", "", Some(M)),
            ("er", "", Some(M)),
            ("ic", "", Some(M)),
            ("able", "", Some(M)),
            ("ible", "", Some(M)),
            ("ant", "", Some(M)),
            ("ement", "", Some(M)),
            ("ment", "", Some(M)),
            ("ent", "", Some(M)),
            ("ion", "", Some(Cond::Ion)),
            ("ou", "", Some(M)),
            ("ism", "", Some(M)),
            ("ate", "", Some(M)),
            ("iti", "", Some(M)),
            ("ous", "", Some(M)),
            ("ive", "", Some(M)),
            ("ize", "", Some(M)),
        ],
    )
}

fn step5a(mut w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "e") {
        let stem = &w[..w.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            w.pop();
        }
    }
    w
}

fn step5b(mut w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "ll") && measure(&w[..w.len() - 1]) > 1 {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn examples_from_the_paper_and_nltk() {
        let cases = [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("happy", "happi"),
            ("enjoy", "enjoy"),
            ("skies", "sky"),
            ("dying", "die"),
            ("relational", "relat"),
            ("generalization", "gener"),
            ("controll", "control"),
            ("Running", "run"),
            ("a", "a"),
            ("AB", "ab"),
        ];
        for (w, s) in cases {
            assert_eq!(stem(w), s, "stem({w:?})");
        }
    }
}
