//! Tokenisation as the original's `clean_str` (docs/data.md, "Vocabularies").
//!
//! `clean_str(s)`: every char outside `[A-Za-z0-9]` becomes a space; strip; lower-case;
//! split on white space. The original's `build_vocab` counts `clean_str(caption.lower())`,
//! i.e. it lower-cases FIRST, while encoding calls `clean_str(caption)`. The two differ only
//! for the non-ASCII chars whose lower case contains ASCII letters or digits: `İ` (U+0130,
//! lower case `i` + U+0307) and the Kelvin sign (U+212A, lower case `k`). So `İstanbul`
//! counts as `i`, `stanbul` but encodes as `stanbul`, and `300K` (Kelvin) counts as `300k`
//! but encodes as `300`. Rust's `char::to_lowercase` agrees with Python's `str.lower` on
//! every char whose lower case is ASCII, which is all that matters after `clean_str`.

/// Calls `emit` with each token of `text`, using `buf` as scratch. `lower_first` chooses
/// the counting variant (`clean_str(text.lower())`).
fn for_each_token(text: &str, lower_first: bool, buf: &mut String, mut emit: impl FnMut(&str)) {
    buf.clear();
    let mut flush = |buf: &mut String| {
        if !buf.is_empty() {
            emit(buf);
            buf.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            buf.push(c.to_ascii_lowercase());
        } else if lower_first && !c.is_ascii() {
            for l in c.to_lowercase() {
                if l.is_ascii_alphanumeric() {
                    buf.push(l);
                } else {
                    flush(buf);
                }
            }
        } else {
            flush(buf);
        }
    }
    flush(buf);
}

/// The tokens the original encodes a sentence with (`clean_str(text)`), e.g. for BoW
/// vectors and rnn ids.
pub fn clean_str(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for_each_token(text, false, &mut String::new(), |t| {
        tokens.push(t.to_owned())
    });
    tokens
}

/// The tokens the original counts when building a vocabulary
/// (`clean_str(text.lower())`).
pub fn vocab_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for_each_token(text, true, &mut String::new(), |t| {
        tokens.push(t.to_owned())
    });
    tokens
}

/// Calls `emit` with each counting token of `text` without allocating per token; `buf` is
/// reusable scratch space (used by the vocabulary builder on millions of captions).
pub fn for_each_vocab_token(text: &str, buf: &mut String, emit: impl FnMut(&str)) {
    for_each_token(text, true, buf, emit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_digits_and_case() {
        assert_eq!(
            clean_str("  A Cat, sleeping.  5pm!"),
            ["a", "cat", "sleeping", "5pm"]
        );
        assert_eq!(clean_str("don't"), ["don", "t"]);
        assert!(clean_str("...!?").is_empty());
    }

    #[test]
    fn lowercase_first_only_changes_dotted_i_and_kelvin() {
        let text = "\u{130}stanbul 300\u{212A} Zürich ﬁne ß";
        assert_eq!(clean_str(text), ["stanbul", "300", "z", "rich", "ne"]);
        assert_eq!(
            vocab_tokens(text),
            ["i", "stanbul", "300k", "z", "rich", "ne"]
        );
    }
}
