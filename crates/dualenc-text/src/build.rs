//! Building a collection's vocabularies as the original's `util/vocab.py` (`do_get_vocab.sh`):
//! both styles from the training captions, words counted at least `threshold` times, written
//! as `word_vocab_T.json` and `word_vocab_counter_T.txt` under `TextData/vocabulary/{bow,rnn}/`.
//! The one implementation behind `dualenc vocab`, `dualenc all` and the demo.

use std::path::PathBuf;

use dualenc_data::Collection;
use serde::Serialize;

use crate::error::TextError;
use crate::vocab::{TextStyle, WordCounter};

/// The four files of a collection's vocabularies at `threshold`: per style (bow, rnn), the
/// vocabulary and the counter file.
pub fn vocabulary_files(collection: &Collection, threshold: u64) -> Vec<PathBuf> {
    [TextStyle::Bow, TextStyle::Rnn]
        .iter()
        .flat_map(|&style| {
            let (vocab, counter) = style_files(collection, style, threshold);
            [vocab, counter]
        })
        .collect()
}

fn style_files(collection: &Collection, style: TextStyle, threshold: u64) -> (PathBuf, PathBuf) {
    let dir = collection.vocabulary_dir(style.as_str());
    (
        dir.join(format!("word_vocab_{threshold}.json")),
        dir.join(format!("word_vocab_counter_{threshold}.txt")),
    )
}

/// What building the vocabularies found and wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VocabBuild {
    /// The collection.
    pub collection: String,
    /// Captions counted.
    pub captions: usize,
    /// Tokens counted.
    pub tokens: u64,
    /// Distinct words.
    pub distinct_words: usize,
    /// The count threshold.
    pub threshold: u64,
    /// Words counted at least `threshold` times.
    pub kept_words: usize,
    /// Size of the bow vocabulary.
    pub bow_size: usize,
    /// Size of the rnn vocabulary (the kept words and four special tokens).
    pub rnn_size: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Counts the words of the collection's caption file and writes both vocabularies and their
/// counter files (atomically); `progress(done, total)` follows the counting.
pub fn build_vocabularies(
    collection: &Collection,
    threshold: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VocabBuild, TextError> {
    let captions = dualenc_data::captions::read_captions(collection.caption_path())?;
    tracing::info!(captions = captions.len(), "counting words");
    let mut counter = WordCounter::new();
    for (i, caption) in captions.iter().enumerate() {
        counter.add_caption(&caption.text);
        if i % 4096 == 0 {
            progress(i, captions.len());
        }
    }
    progress(captions.len(), captions.len());
    let mut sizes = [0usize; 2];
    for (slot, style) in sizes.iter_mut().zip([TextStyle::Bow, TextStyle::Rnn]) {
        let (vocab_path, counter_path) = style_files(collection, style, threshold);
        let vocab = counter.vocabulary(style, threshold);
        vocab.save_json(&vocab_path)?;
        counter.write_counter_file(&counter_path, threshold)?;
        tracing::info!(path = %vocab_path.display(), "wrote {style} vocabulary");
        *slot = vocab.len();
    }
    Ok(VocabBuild {
        collection: collection.name.clone(),
        captions: counter.caption_count(),
        tokens: counter.token_count(),
        distinct_words: counter.counts().len(),
        threshold,
        kept_words: counter.kept(threshold).count(),
        bow_size: sizes[0],
        rnn_size: sizes[1],
        files: vocabulary_files(collection, threshold),
    })
}
