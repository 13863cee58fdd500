//! Vocabularies as the original's `util/vocab.py` builds them, in our JSON form and read
//! back from the original's pickles.
//!
//! Building: count `clean_str(caption.lower())` tokens over all captions; keep words with
//! count >= threshold in order of first appearance; the `rnn` style prepends `<pad>`,
//! `<start>`, `<end>`, `<unk>` (ids 0-3). The counter file lists the kept words as
//! `word count` lines by descending count (ties in first-appearance order), with no
//! trailing newline, exactly as the original writes it.

use crate::error::TextError;
use crate::tokenize::for_each_vocab_token;
use dualenc_pickle::Value;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The special tokens of an `rnn` vocabulary, at ids 0, 1, 2, 3.
pub const RNN_SPECIALS: [&str; 4] = ["<pad>", "<start>", "<end>", "<unk>"];
/// Id of `<pad>` in an rnn vocabulary.
pub const PAD: usize = 0;
/// Id of `<start>` in an rnn vocabulary.
pub const START: usize = 1;
/// Id of `<end>` in an rnn vocabulary.
pub const END: usize = 2;
/// Id of `<unk>` in an rnn vocabulary.
pub const UNK: usize = 3;

/// Tag written in our JSON form so that other JSON files are recognised as such.
const JSON_FORMAT: &str = "dualenc-vocabulary";

/// The two vocabulary styles of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextStyle {
    /// Bag of words: just the kept words (used for the BoW level-1 vector).
    Bow,
    /// Word ids for the GRU: the four specials, then the kept words.
    Rnn,
}

impl TextStyle {
    /// `bow` or `rnn`, the folder name under `TextData/vocabulary/`.
    pub fn as_str(self) -> &'static str {
        match self {
            TextStyle::Bow => "bow",
            TextStyle::Rnn => "rnn",
        }
    }
}

impl std::fmt::Display for TextStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Word counts over a set of captions, in order of first appearance.
#[derive(Debug, Clone, Default)]
pub struct WordCounter {
    counts: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    captions: usize,
    tokens: u64,
}

impl WordCounter {
    /// An empty counter.
    pub fn new() -> WordCounter {
        WordCounter::default()
    }

    /// Counts the words of every caption text.
    pub fn from_captions<I, S>(captions: I) -> WordCounter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut counter = WordCounter::new();
        let mut buf = String::new();
        for caption in captions {
            counter.add_with(caption.as_ref(), &mut buf);
        }
        counter
    }

    /// Counts the words of the captions of a caption file (`CAPID sentence` lines).
    pub fn from_caption_file(path: impl AsRef<Path>) -> Result<WordCounter, TextError> {
        let captions = dualenc_data::captions::read_captions(path)?;
        Ok(WordCounter::from_captions(captions.iter().map(|c| &c.text)))
    }

    /// Counts the words of one caption (`clean_str(caption.lower())` tokens).
    pub fn add_caption(&mut self, caption: &str) {
        self.add_with(caption, &mut String::new());
    }

    fn add_with(&mut self, caption: &str, buf: &mut String) {
        self.captions += 1;
        let WordCounter {
            counts,
            index,
            tokens,
            ..
        } = self;
        for_each_vocab_token(caption, buf, |token| {
            *tokens += 1;
            match index.get(token) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    index.insert(token.to_owned(), counts.len());
                    counts.push((token.to_owned(), 1));
                }
            }
        });
    }

    /// Number of captions counted.
    pub fn caption_count(&self) -> usize {
        self.captions
    }

    /// Number of tokens counted.
    pub fn token_count(&self) -> u64 {
        self.tokens
    }

    /// Every distinct word with its count, in order of first appearance.
    pub fn counts(&self) -> &[(String, u64)] {
        &self.counts
    }

    /// The count of `word` (0 when never seen).
    pub fn count(&self, word: &str) -> u64 {
        self.index.get(word).map_or(0, |&i| self.counts[i].1)
    }

    /// Words with count >= `threshold`, in order of first appearance.
    pub fn kept(&self, threshold: u64) -> impl Iterator<Item = &(String, u64)> {
        self.counts.iter().filter(move |(_, c)| *c >= threshold)
    }

    /// The vocabulary of the kept words in the given style.
    pub fn vocabulary(&self, style: TextStyle, threshold: u64) -> Vocabulary {
        let specials = match style {
            TextStyle::Bow => &[][..],
            TextStyle::Rnn => &RNN_SPECIALS[..],
        };
        let words = specials
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.kept(threshold).map(|(w, _)| w.clone()))
            .collect::<Vec<_>>();
        // The kept words are distinct and cannot contain `<`, so this cannot fail; the
        // specials are added once even if a word collides (as `add_word` does).
        Vocabulary::from_words_dedup(style, words)
    }

    /// The counter file's text: kept words as `word count` lines by descending count, ties
    /// in first-appearance order, joined by `\n` without a trailing newline.
    pub fn counter_text(&self, threshold: u64) -> String {
        let mut kept: Vec<&(String, u64)> = self.kept(threshold).collect();
        // Stable: ties keep first-appearance order, as Python's sort(reverse=True).
        kept.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
        kept.iter()
            .map(|(w, c)| format!("{w} {c}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Writes the counter file atomically.
    pub fn write_counter_file(
        &self,
        path: impl AsRef<Path>,
        threshold: u64,
    ) -> Result<(), TextError> {
        let path = path.as_ref();
        dualenc_data::atomic::write_bytes_atomic(path, self.counter_text(threshold).as_bytes())
            .map_err(|source| TextError::Io {
                path: path.to_owned(),
                source,
            })
    }
}

/// A vocabulary: words in index order and the reverse map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    style: TextStyle,
    words: Vec<String>,
    index: HashMap<String, usize>,
}

/// Our JSON form of a vocabulary.
#[derive(Serialize, Deserialize)]
struct VocabJson {
    format: String,
    text_style: TextStyle,
    words: Vec<String>,
}

impl Vocabulary {
    /// A vocabulary of `words` in index order. Errors when a word repeats, or when an rnn
    /// vocabulary does not start with `<pad>`, `<start>`, `<end>`, `<unk>`.
    pub fn from_words(style: TextStyle, words: Vec<String>) -> Result<Vocabulary, TextError> {
        let in_memory = Path::new("<memory>");
        Vocabulary::checked(style, words, in_memory)
    }

    fn checked(style: TextStyle, words: Vec<String>, path: &Path) -> Result<Vocabulary, TextError> {
        let format_error = |message: String| TextError::Format {
            path: path.to_owned(),
            message,
        };
        if style == TextStyle::Rnn && words.get(..4) != Some(&RNN_SPECIALS.map(String::from)[..]) {
            return Err(format_error(format!(
                "an rnn vocabulary must start with {RNN_SPECIALS:?}, found {:?}",
                &words[..words.len().min(4)]
            )));
        }
        let mut index = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if let Some(first) = index.insert(w.clone(), i) {
                return Err(format_error(format!(
                    "word {w:?} appears at ids {first} and {i}"
                )));
            }
        }
        Ok(Vocabulary {
            style,
            words,
            index,
        })
    }

    /// Like the original's `add_word` loop: a repeated word keeps its first id.
    fn from_words_dedup(style: TextStyle, all: Vec<String>) -> Vocabulary {
        let mut words = Vec::with_capacity(all.len());
        let mut index = HashMap::with_capacity(all.len());
        for w in all {
            if !index.contains_key(&w) {
                index.insert(w.clone(), words.len());
                words.push(w);
            }
        }
        Vocabulary {
            style,
            words,
            index,
        }
    }

    /// The style.
    pub fn style(&self) -> TextStyle {
        self.style
    }

    /// Words in index order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Number of words (including the rnn specials).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words at all.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of `word`, if it is in the vocabulary.
    pub fn id(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The word with id `id`.
    pub fn word(&self, id: usize) -> Option<&str> {
        self.words.get(id).map(String::as_str)
    }

    /// The id of `word`, or `<unk>`'s for an unknown word in an rnn vocabulary (the
    /// original's `Vocabulary.__call__`; a bow vocabulary has no `<unk>` and gives `None`).
    pub fn id_or_unk(&self, word: &str) -> Option<usize> {
        match (self.id(word), self.style) {
            (Some(id), _) => Some(id),
            (None, TextStyle::Rnn) => Some(UNK),
            (None, TextStyle::Bow) => None,
        }
    }

    /// Writes our JSON form atomically: `{"format": "dualenc-vocabulary", "text_style":
    /// "bow"|"rnn", "words": [...]}`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), TextError> {
        let path = path.as_ref();
        let doc = VocabJson {
            format: JSON_FORMAT.to_owned(),
            text_style: self.style,
            words: self.words.clone(),
        };
        dualenc_data::atomic::write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, &doc).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })
        .map_err(|source| TextError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads our JSON form.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Vocabulary, TextError> {
        let path = path.as_ref();
        let bytes = read(path)?;
        Vocabulary::parse_json(path, &bytes)
    }

    fn parse_json(path: &Path, bytes: &[u8]) -> Result<Vocabulary, TextError> {
        let doc: VocabJson = serde_json::from_slice(bytes).map_err(|source| TextError::Json {
            path: path.to_owned(),
            source,
        })?;
        if doc.format != JSON_FORMAT {
            return Err(TextError::Format {
                path: path.to_owned(),
                message: format!("format is {:?}, expected {JSON_FORMAT:?}", doc.format),
            });
        }
        Vocabulary::checked(doc.text_style, doc.words, path)
    }

    /// Reads the original's pickled `Vocabulary` (any pickle protocol): its `word2idx`
    /// gives the words, `text_style` the style; `idx2word` and `idx`, when present, must
    /// agree with `word2idx`.
    pub fn load_pickle(path: impl AsRef<Path>) -> Result<Vocabulary, TextError> {
        let path = path.as_ref();
        let bytes = read(path)?;
        Vocabulary::parse_pickle(path, &bytes)
    }

    fn parse_pickle(path: &Path, bytes: &[u8]) -> Result<Vocabulary, TextError> {
        let value = dualenc_pickle::loads(bytes).map_err(|source| TextError::Pickle {
            path: path.to_owned(),
            source,
        })?;
        let format_error = |message: String| TextError::Format {
            path: path.to_owned(),
            message,
        };
        let style = match value.get("text_style").and_then(Value::as_str) {
            Some(s) if s.contains("rnn") => TextStyle::Rnn,
            Some(s) if s.contains("bow") => TextStyle::Bow,
            other => {
                return Err(format_error(format!(
                    "text_style is {other:?}, expected a str containing bow or rnn"
                )))
            }
        };
        let word2idx = value
            .get("word2idx")
            .and_then(Value::as_dict)
            .ok_or_else(|| {
                format_error("no word2idx dict (not a pickled Vocabulary)".to_owned())
            })?;
        let words = words_from_word2idx(word2idx).map_err(format_error)?;
        check_idx2word(&value, &words).map_err(format_error)?;
        Vocabulary::checked(style, words, path)
    }

    /// Reads a vocabulary in either form, chosen by content: a pickle starts with the
    /// `PROTO` opcode (0x80), anything else is read as our JSON.
    pub fn load(path: impl AsRef<Path>) -> Result<Vocabulary, TextError> {
        let path = path.as_ref();
        let bytes = read(path)?;
        if bytes.first() == Some(&0x80) {
            Vocabulary::parse_pickle(path, &bytes)
        } else {
            Vocabulary::parse_json(path, &bytes)
        }
    }
}

/// Words in id order from a `word2idx` dict whose ids must be exactly `0..n`.
fn words_from_word2idx(pairs: &[(Value, Value)]) -> Result<Vec<String>, String> {
    let mut slots: Vec<Option<String>> = vec![None; pairs.len()];
    for (k, v) in pairs {
        let word = k
            .as_str()
            .ok_or_else(|| format!("word2idx key {k:?} is not a str"))?;
        let slot = v
            .as_i64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| slots.get_mut(i))
            .ok_or_else(|| {
                format!(
                    "word2idx maps {word:?} to {v:?}, expected an id below {}",
                    pairs.len()
                )
            })?;
        if let Some(other) = slot.replace(word.to_owned()) {
            return Err(format!(
                "word2idx gives {word:?} and {other:?} the same id {v:?}"
            ));
        }
    }
    // n distinct ids below n: every slot is filled.
    Ok(slots.into_iter().flatten().collect())
}

/// Checks the optional `idx2word` and `idx` attributes against the words.
fn check_idx2word(value: &Value, words: &[String]) -> Result<(), String> {
    if let Some(idx) = value.get("idx").and_then(Value::as_i64) {
        if usize::try_from(idx).ok() != Some(words.len()) {
            return Err(format!(
                "idx is {idx} but word2idx has {} words",
                words.len()
            ));
        }
    }
    let Some(pairs) = value.get("idx2word").and_then(Value::as_dict) else {
        return Ok(());
    };
    for (k, v) in pairs {
        let id = k.as_i64().and_then(|i| usize::try_from(i).ok());
        let expected = id.and_then(|i| words.get(i)).map(String::as_str);
        if expected.is_none() || expected != v.as_str() {
            return Err(format!("idx2word maps {k:?} to {v:?}, word2idx disagrees"));
        }
    }
    if pairs.len() != words.len() {
        return Err(format!(
            "idx2word has {} entries, word2idx {}",
            pairs.len(),
            words.len()
        ));
    }
    Ok(())
}

/// The whole of a vocabulary file, bounded by its length (regular files only).
fn read(path: &Path) -> Result<Vec<u8>, TextError> {
    dualenc_data::untrusted::read_regular_file(path).map_err(|source| TextError::Io {
        path: PathBuf::from(path),
        source,
    })
}
