//! How text becomes searchable words: Unicode word segmentation, lower-casing, the NLTK
//! English stop words dropped, then the Snowball English stemmer. A job and a query go
//! through the same function, so "Developers" finds "developer".

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_segmentation::UnicodeSegmentation;

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    // NLTK's English list (the crate's "nltk" feature), keyed by ISO 639-1 code.
    stop_words::lookup("en")
        .unwrap_or_default()
        .iter()
        .copied()
        .collect()
});

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// The lower-cased words of `text` that are not stop words, in order, repeats kept.
pub fn plain_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(w.as_str()))
}

/// The distinct stems of `text`, in order of first appearance.
pub fn stems(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    plain_words(text)
        .map(|w| STEMMER.stem(&w).into_owned())
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_segmented_lower_cased_stemmed_and_stop_words_dropped() {
        assert_eq!(
            stems("The Developers are developing a Café website!"),
            ["develop", "café", "websit"]
        );
        assert_eq!(stems("the and of"), Vec::<String>::new());
        // Non-Latin scripts segment too.
        assert_eq!(stems("Добрый день"), ["добрый", "день"]);
    }

    #[test]
    fn punctuation_inside_a_slug_splits_it() {
        assert_eq!(stems("node.js c++"), ["node.j", "c"]);
    }
}
