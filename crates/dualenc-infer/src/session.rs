//! A model folder loaded for use: the network on a device, its vocabularies and options.

use dualenc_model::ModelBackend;
use std::path::{Path, PathBuf};

use dualenc_model::{DualEncoding, ModelDir, ModelMeta, RunConfig};

use crate::error::{InferError, Result};
use dualenc_dataset::ModelVocab;

/// A model ready to encode.
#[derive(Debug)]
pub struct LoadedModel<B: ModelBackend> {
    /// The network (eval mode is chosen per call).
    pub model: DualEncoding<B>,
    /// Its vocabularies.
    pub vocab: ModelVocab,
    /// Every option it was built with.
    pub config: RunConfig,
    /// Its provenance.
    pub meta: ModelMeta,
    /// The model folder.
    pub dir: PathBuf,
}

impl<B: ModelBackend> LoadedModel<B> {
    /// Reads the model folder `dir` and builds the network on `device`; the vocabularies must
    /// have the sizes the network was built with.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let folder = ModelDir::read(dir)?;
        let vocab = ModelVocab::from_model_dir(dir)?;
        let config = folder.config.clone();
        let meta = folder.meta.clone();
        let sizes = [
            ("BoW", vocab.bow_len(), config.model.bow_vocab_size),
            ("RNN", vocab.rnn_len(), config.model.vocab_size),
        ];
        if let Some((style, have, want)) = sizes.iter().find(|(_, have, want)| have != want) {
            return Err(InferError::Invalid(format!(
                "{}: the {style} vocabulary has {have} words but the network was built for {want}",
                dir.display()
            )));
        }
        Ok(Self {
            model: folder.into_model(device)?,
            vocab,
            config,
            meta,
            dir: dir.to_path_buf(),
        })
    }

    /// The frame feature the model was trained on (`visual_feature` in the options), if known.
    pub fn feature(&self) -> Option<&str> {
        self.config.feature()
    }

    /// The feature to use: `given`, else the model's own; an error when neither is known.
    pub fn feature_or(&self, given: Option<&str>) -> Result<String> {
        given
            .or_else(|| self.feature())
            .map(str::to_string)
            .ok_or_else(|| {
                InferError::Invalid(format!(
                    "{}: the model does not name its frame feature; give --feature",
                    self.dir.display()
                ))
            })
    }
}
