//! Splitting the text into words that remember where they came from.
//!
//! Matching works on a lowercased copy of each word, but errors quote the words as typed and the
//! candidate's name is sliced from the original text, so every word keeps its byte span.

/// One whitespace-separated word of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    /// As typed.
    pub raw: &'a str,
    /// Lowercased, with one trailing comma dropped (`25,` in `nov 25, 2026`): what matching uses.
    pub norm: String,
    /// Byte offset of the first byte in the input.
    pub start: usize,
    /// Byte offset just past the last byte in the input.
    pub end: usize,
}

/// Splits `text` on Unicode whitespace.
pub(crate) fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(from)) => {
                out.push(word(text, from, at));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(from) = start {
        out.push(word(text, from, text.len()));
    }
    out
}

fn word(text: &str, start: usize, end: usize) -> Word<'_> {
    // `start..end` come from `char_indices`, so they are char boundaries; `get` keeps this
    // panic-free even if that reasoning were ever wrong.
    let raw = text.get(start..end).unwrap_or_default();
    let lower = raw.to_lowercase();
    let norm = lower.strip_suffix(',').unwrap_or(&lower).to_owned();
    Word {
        raw,
        norm,
        start,
        end,
    }
}

/// The input text covered by `words` (from the first word's start to the last word's end), as
/// typed; empty for no words.
pub(crate) fn span<'a>(text: &'a str, words: &[Word<'_>]) -> &'a str {
    match (words.first(), words.last()) {
        (Some(first), Some(last)) => text.get(first.start..last.end).unwrap_or_default(),
        _ => "",
    }
}

/// Edit distance counting a swap of neighbours as one edit (`pyhton`), or `None` when either word
/// is too long to be a typo of a keyword (keeps the cost bounded for pasted junk).
pub(crate) fn edit_distance(a: &str, b: &str) -> Option<usize> {
    const LONGEST: usize = 24;
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > LONGEST || b.len() > LONGEST {
        return None;
    }
    // Optimal string alignment: Levenshtein plus adjacent transpositions.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    Some(d[a.len()][b.len()])
}

/// The entry of `vocabulary` closest to `word`, if it is a plausible typo: at most one edit for
/// words up to six letters, two for longer ones (`tommorow`), and not the word itself. Allowing
/// two edits on short words suggests `cancel` for `dance`.
pub(crate) fn closest<'v>(
    word: &str,
    vocabulary: impl IntoIterator<Item = &'v str>,
) -> Option<&'v str> {
    let allowed = if word.chars().count() <= 6 { 1 } else { 2 };
    vocabulary
        .into_iter()
        .filter_map(|candidate| Some((edit_distance(word, candidate)?, candidate)))
        .filter(|(distance, _)| (1..=allowed).contains(distance))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_spans_and_lowercase_forms() {
        let text = "  Nov 25,\t2026  Ada ";
        let got = words(text);
        let norms: Vec<_> = got.iter().map(|w| w.norm.as_str()).collect();
        assert_eq!(norms, ["nov", "25", "2026", "ada"]);
        assert_eq!(got[1].raw, "25,");
        assert_eq!(&text[got[3].start..got[3].end], "Ada");
        assert_eq!(span(text, &got[..3]), "Nov 25,\t2026");
        assert_eq!(span(text, &[]), "");
    }

    #[test]
    fn words_split_on_unicode_whitespace() {
        let got = words("a\u{3000}bé\u{a0}c");
        let raws: Vec<_> = got.iter().map(|w| w.raw).collect();
        assert_eq!(raws, ["a", "bé", "c"]);
    }

    #[test]
    fn closest_suggests_typos_but_not_unrelated_words() {
        let vocabulary = ["schedule", "status", "list"];
        assert_eq!(closest("shedule", vocabulary), Some("schedule"));
        assert_eq!(closest("lst", vocabulary), Some("list"));
        assert_eq!(closest("banana", vocabulary), None);
        assert_eq!(closest("stauts", vocabulary), Some("status"));
        assert_eq!(edit_distance("pyhton", "python"), Some(1));
        assert_eq!(closest("schdeule", vocabulary), Some("schedule"));
        assert_eq!(closest("list", vocabulary), None);
        assert_eq!(closest(&"x".repeat(500), vocabulary), None);
    }
}
