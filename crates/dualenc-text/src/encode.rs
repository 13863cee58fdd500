//! Turning a sentence into the network's text inputs, as the original's data loader:
//! the BoW count vector (level 1) and the rnn id sequence (levels 2-3).

use crate::error::TextError;
use crate::tokenize::clean_str;
use crate::vocab::{TextStyle, Vocabulary, END, START};
use std::path::Path;

/// Per-word counts of `tokens` over `vocab` (not normalised; words outside the vocabulary
/// are ignored, so a sentence with no known word gives all zeros, which is what the
/// original's data loader uses when `Bow2Vec` returns `None`).
pub fn bow_vector<S: AsRef<str>>(vocab: &Vocabulary, tokens: &[S]) -> Vec<f32> {
    let mut counts = vec![0.0f32; vocab.len()];
    for id in tokens.iter().filter_map(|t| vocab.id(t.as_ref())) {
        if let Some(c) = counts.get_mut(id) {
            *c += 1.0;
        }
    }
    counts
}

/// `<start>`, the id of each token (`<unk>` for unknown words), `<end>`: the original's
/// caption ids. `vocab` must be an rnn vocabulary (ids 0-3 are the specials).
pub fn rnn_ids<S: AsRef<str>>(vocab: &Vocabulary, tokens: &[S]) -> Vec<usize> {
    let mut ids = Vec::with_capacity(tokens.len() + 2);
    ids.push(START);
    ids.extend(tokens.iter().filter_map(|t| vocab.id_or_unk(t.as_ref())));
    ids.push(END);
    ids
}

/// One caption ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedCaption {
    /// The `clean_str` tokens.
    pub tokens: Vec<String>,
    /// BoW counts over the bow vocabulary.
    pub bow: Vec<f32>,
    /// rnn ids including `<start>` and `<end>`.
    pub ids: Vec<usize>,
}

/// The pair of vocabularies a text encoder needs, checked for their styles.
#[derive(Debug, Clone)]
pub struct TextVocab {
    bow: Vocabulary,
    rnn: Vocabulary,
}

impl TextVocab {
    /// Pairs a bow and an rnn vocabulary; errors when their styles are the wrong way round.
    pub fn new(bow: Vocabulary, rnn: Vocabulary) -> Result<TextVocab, TextError> {
        for (vocab, style) in [(&bow, TextStyle::Bow), (&rnn, TextStyle::Rnn)] {
            if vocab.style() != style {
                return Err(TextError::Format {
                    path: "<memory>".into(),
                    message: format!("expected a {style} vocabulary, got a {}", vocab.style()),
                });
            }
        }
        Ok(TextVocab { bow, rnn })
    }

    /// Loads `bow` and `rnn` vocabularies (each `.json` or the original `.pkl`).
    pub fn load(bow: impl AsRef<Path>, rnn: impl AsRef<Path>) -> Result<TextVocab, TextError> {
        TextVocab::new(Vocabulary::load(bow)?, Vocabulary::load(rnn)?)
    }

    /// The bow vocabulary (its length is the BoW vector size).
    pub fn bow(&self) -> &Vocabulary {
        &self.bow
    }

    /// The rnn vocabulary (its length is the embedding table size).
    pub fn rnn(&self) -> &Vocabulary {
        &self.rnn
    }

    /// Encodes one caption text.
    pub fn encode_caption(&self, text: &str) -> EncodedCaption {
        let tokens = clean_str(text);
        EncodedCaption {
            bow: bow_vector(&self.bow, &tokens),
            ids: rnn_ids(&self.rnn, &tokens),
            tokens,
        }
    }
}
