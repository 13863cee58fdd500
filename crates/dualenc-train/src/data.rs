//! Reading the training and validation collections, with every check done before training
//! starts: missing collection or file, caption of a video without features, caption without
//! words, caption count that contradicts `--n-caption`, feature dimensions that differ.

use std::path::{Path, PathBuf};

use dualenc_data::{BigFile, Collection, WordVectors};
use dualenc_dataset::{load_pair_data, ModelVocab, PairData};
use dualenc_text::Vocabulary;

use crate::error::{Result, TrainError};
use crate::loader::check_training_data;

/// Which data a run reads.
#[derive(Debug, Clone)]
pub struct DataSpec {
    /// The VisualSearch root.
    pub rootpath: PathBuf,
    /// Training collection.
    pub train: String,
    /// Validation collection.
    pub val: String,
    /// Frame feature (folder under `FeatureData`).
    pub feature: String,
    /// Vocabulary name, e.g. `word_vocab_5` (`.json` or `.pkl` under the training
    /// collection's `TextData/vocabulary/{bow,rnn}/`).
    pub vocab: String,
}

/// The loaded data of a run.
pub struct RunData {
    /// Training pairs (frames stay in the memory-mapped BigFile).
    pub train: PairData,
    /// Validation pairs.
    pub val: PairData,
    /// Dimension of a frame feature.
    pub feature_dim: usize,
    /// BoW vocabulary size.
    pub bow_size: usize,
    /// The RNN vocabulary (for word2vec initialisation).
    pub rnn_vocab: Vocabulary,
    /// The vocabulary files `(bow.EXT | rnn.EXT, bytes)` to copy into model folders.
    pub vocab_files: Vec<(String, Vec<u8>)>,
}

/// Reads and checks the training and validation collections of `spec`.
pub fn load_run_data(spec: &DataSpec) -> Result<RunData> {
    for (role, name) in [("training", &spec.train), ("validation", &spec.val)] {
        check_collection(&spec.rootpath, role, name, &spec.feature)?;
    }
    let bow_path = vocab_path(&spec.rootpath, &spec.train, "bow", &spec.vocab)?;
    let rnn_path = vocab_path(&spec.rootpath, &spec.train, "rnn", &spec.vocab)?;
    let vocab = ModelVocab::load(&bow_path, &rnn_path)?;
    let rnn_vocab = Vocabulary::load(&rnn_path).map_err(|e| TrainError::Format {
        path: rnn_path.clone(),
        message: e.to_string(),
    })?;
    let train = load_pair_data(
        &Collection::new(&spec.rootpath, &spec.train),
        &spec.feature,
        &vocab,
    )?;
    check_training_data(&train)?;
    let val = load_pair_data(
        &Collection::new(&spec.rootpath, &spec.val),
        &spec.feature,
        &vocab,
    )?;
    // Refused before the first epoch: NaN would poison the weights and infinity the
    // validation, both silently.
    train.videos.check_finite()?;
    val.videos.check_finite()?;
    let feature_dim = feature_dim_of(&spec.rootpath, &spec.train, &spec.feature)?;
    let val_dim = feature_dim_of(&spec.rootpath, &spec.val, &spec.feature)?;
    if val_dim != feature_dim {
        return Err(TrainError::Data(format!(
            "feature {}: {}-d in {} but {}-d in {}",
            spec.feature, feature_dim, spec.train, val_dim, spec.val
        )));
    }
    Ok(RunData {
        train,
        val,
        feature_dim,
        bow_size: vocab.bow_len(),
        rnn_vocab,
        vocab_files: vec![vocab_file("bow", &bow_path)?, vocab_file("rnn", &rnn_path)?],
    })
}

/// Errors naming the first missing piece of a collection.
fn check_collection(root: &Path, role: &str, name: &str, feature: &str) -> Result<()> {
    let collection = Collection::new(root, name);
    let needed = [
        (collection.dir(), "collection folder"),
        (collection.caption_path(), "caption file"),
        (collection.feature_dir(feature), "feature folder"),
    ];
    match needed.iter().find(|(path, _)| !path.exists()) {
        Some((path, what)) => Err(TrainError::Data(format!(
            "{role} collection {name}: missing {what} {}",
            path.display()
        ))),
        None => Ok(()),
    }
}

fn feature_dim_of(root: &Path, name: &str, feature: &str) -> Result<usize> {
    let dir = Collection::new(root, name).feature_dir(feature);
    let bigfile = BigFile::open(&dir).map_err(dualenc_infer::InferError::from)?;
    Ok(bigfile.dim())
}

/// `ROOT/TRAIN/TextData/vocabulary/STYLE/NAME.json`, else `NAME.pkl`.
pub fn vocab_path(root: &Path, train: &str, style: &str, name: &str) -> Result<PathBuf> {
    let dir = Collection::new(root, train).vocabulary_dir(style);
    ["json", "pkl"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            TrainError::Data(format!(
                "no {style} vocabulary {name}.json or {name}.pkl in {}; build it with \
                 `dualenc vocab --rootpath {} {train}`",
                dir.display(),
                root.display()
            ))
        })
}

fn vocab_file(style: &str, path: &Path) -> Result<(String, Vec<u8>)> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("json");
    let bytes =
        dualenc_data::untrusted::read_regular_file(path).map_err(|e| TrainError::io(path, e))?;
    Ok((format!("{style}.{ext}"), bytes))
}

/// Initial word embeddings from word vectors (the original's `get_we_parameter`): one row per
/// RNN-vocabulary word, `None` for a word without a vector (drawn `U(-1, 1)` later).
pub fn word_vectors(
    path: &Path,
    vocab: &Vocabulary,
    word_dim: usize,
) -> Result<Vec<Option<Vec<f32>>>> {
    let vectors = WordVectors::open(path).map_err(dualenc_infer::InferError::from)?;
    if vectors.dim() != word_dim {
        return Err(TrainError::Config(format!(
            "{}: word vectors are {}-d but --word-dim is {word_dim}",
            path.display(),
            vectors.dim()
        )));
    }
    let rows: Vec<Option<Vec<f32>>> = vocab
        .words()
        .iter()
        .map(|w| vectors.get(w).map(<[f32]>::to_vec))
        .collect();
    let found = rows.iter().filter(|r| r.is_some()).count();
    tracing::info!(
        "word2vec: {found} of {} words found in {}",
        rows.len(),
        path.display()
    );
    Ok(rows)
}
