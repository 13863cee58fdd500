//! The two vocabularies of a model and the caption encoding they define (the original's
//! `Bow2Vec` and RNN id sequence), plus where a model folder keeps them.

use std::path::{Path, PathBuf};

use dualenc_text::{TextVocab, Vocabulary};

use crate::captions::{CaptionSet, CaptionTokens};
use crate::error::{DatasetError, Result};

/// Folder of a model folder holding its vocabularies.
pub const VOCAB_DIR: &str = "vocab";

/// Loads a vocabulary, `.json` (ours) or `.pkl` (the original's pickle).
pub fn load_vocabulary(path: &Path) -> Result<Vocabulary> {
    Vocabulary::load(path).map_err(|e| DatasetError::Vocabulary {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The vocabulary file of `style` (`bow` or `rnn`) in a model folder: `vocab/STYLE.json` or
/// `vocab/STYLE.pkl`, else the only file of `vocab/` whose name starts with `STYLE`.
pub fn model_vocab_path(model_dir: &Path, style: &str) -> Result<PathBuf> {
    let dir = model_dir.join(VOCAB_DIR);
    for ext in ["json", "pkl"] {
        let path = dir.join(format!("{style}.{ext}"));
        if path.is_file() {
            return Ok(path);
        }
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| DatasetError::io(&dir, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(style))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(DatasetError::Vocabulary {
            path: dir.join(format!("{style}.json")),
            message: format!("the model folder has no {style} vocabulary"),
        }),
        many => Err(DatasetError::Vocabulary {
            path: dir,
            message: format!(
                "{} files could be the {style} vocabulary: {many:?}",
                many.len()
            ),
        }),
    }
}

/// A model's BoW and RNN vocabularies, which turn caption text into network input.
#[derive(Debug, Clone)]
pub struct ModelVocab {
    text: TextVocab,
}

impl ModelVocab {
    /// Loads the two vocabulary files (each `.json` or `.pkl`).
    pub fn load(bow: &Path, rnn: &Path) -> Result<Self> {
        let text = TextVocab::new(load_vocabulary(bow)?, load_vocabulary(rnn)?).map_err(|e| {
            DatasetError::Vocabulary {
                path: bow.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        Ok(Self { text })
    }

    /// Loads the vocabularies kept in a model folder (see [`model_vocab_path`]).
    pub fn from_model_dir(model_dir: &Path) -> Result<Self> {
        Self::load(
            &model_vocab_path(model_dir, "bow")?,
            &model_vocab_path(model_dir, "rnn")?,
        )
    }

    /// Size of the BoW vocabulary.
    pub fn bow_len(&self) -> usize {
        self.text.bow().len()
    }

    /// Size of the RNN vocabulary.
    pub fn rnn_len(&self) -> usize {
        self.text.rnn().len()
    }

    /// Encodes a sentence as the original's data loader: `clean_str` tokens, `<start>` ids
    /// `<end>` (`<unk>` for unknown words) and BoW counts (zeros when no word is known).
    pub fn encode(&self, text: &str) -> CaptionTokens {
        let encoded = self.text.encode_caption(text);
        let ids = encoded.ids.iter().map(|&i| i as i64).collect();
        CaptionTokens::from_dense(ids, &encoded.bow)
    }

    /// Encodes `(id, sentence)` pairs in order; a sentence without any token is kept as the
    /// original does (`<start> <end>`, zero BoW) and logged.
    pub fn encode_all<'a, I>(&self, items: I) -> CaptionSet
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut set = CaptionSet {
            bow_dim: self.bow_len(),
            ..CaptionSet::default()
        };
        for (id, text) in items {
            let tokens = self.encode(text);
            if tokens.ids.len() <= 2 {
                tracing::warn!("caption {id} has no word token: encoded as <start> <end>");
            }
            set.ids.push(id.to_string());
            set.tokens.push(tokens);
        }
        set
    }
}
