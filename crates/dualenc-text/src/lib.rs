//! Text processing as the original Dual Encoding code does it (docs/data.md, "Vocabularies"): the `clean_str`
//! tokeniser, bow/rnn vocabularies (built from captions, saved as JSON, or read from the
//! original's pickles), BoW count vectors and rnn id sequences.
//!
//! ```
//! use dualenc_text::{TextStyle, TextVocab, WordCounter};
//! let counter = WordCounter::from_captions(["a dog runs", "a dog barks"]);
//! let bow = counter.vocabulary(TextStyle::Bow, 2);
//! let rnn = counter.vocabulary(TextStyle::Rnn, 2);
//! assert_eq!(bow.words(), ["a", "dog"]);
//! let vocab = TextVocab::new(bow, rnn).unwrap();
//! let enc = vocab.encode_caption("A dog, a cat!");
//! assert_eq!(enc.bow, [2.0, 1.0]);
//! assert_eq!(enc.ids, [1, 4, 5, 4, 3, 2]); // <start> a dog a <unk> <end>
//! ```

pub mod build;
pub mod encode;
pub mod error;
pub mod tokenize;
pub mod vocab;

pub use build::{build_vocabularies, vocabulary_files, VocabBuild};
pub use encode::{bow_vector, rnn_ids, EncodedCaption, TextVocab};
pub use error::TextError;
pub use tokenize::{clean_str, vocab_tokens};
pub use vocab::{TextStyle, Vocabulary, WordCounter, END, PAD, RNN_SPECIALS, START, UNK};
