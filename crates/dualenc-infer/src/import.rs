//! Importing the authors' checkpoints (`model_best.pth.tar`) into our model folder.
//!
//! A checkpoint is a `torch.save`d dict `{epoch, model: [video state dict, text state dict],
//! best_rsum, opt, Eiters}` (zip or legacy container, CPU or CUDA storages). `opt` is the
//! trainer's argparse Namespace: the network sizes, `concate`, the training collection and the
//! vocabulary name. The vocabularies are not in the checkpoint: they are read from
//! `ROOT/TRAIN/TextData/vocabulary/{bow,rnn}/VOCAB.pkl` (or `.json`, our form) unless given
//! explicitly, checked against the weights, and copied into the model folder as
//! `vocab/bow.EXT` and `vocab/rnn.EXT`.
//!
//! Both may come from anywhere: they are read only when they are regular files and never
//! beyond their length ([`dualenc_data::untrusted::read_regular_file`]; the checkpoint's zip entries
//! and pickle are bounded by `dualenc-pickle` too), and weights that are not finite (NaN,
//! inf, or an f64 beyond the f32 range) are refused naming the tensor and the first bad
//! index.

use std::path::{Path, PathBuf};

use dualenc_data::untrusted::read_regular_file;
use dualenc_data::Collection;
use dualenc_model::config::parse_size_list;
use dualenc_model::model_dir::save_model_dir;
use dualenc_model::{
    Concate, CpuBackend, DualEncoding, ModelConfig, ModelMeta, NamedTensor, OptimConfig, RunConfig,
    TripletLossConfig,
};
use dualenc_pickle::{TensorData, TorchFile, TorchFormat, Value};
use serde_json::{Map, Value as Json};

use crate::error::{InferError, Result};
use dualenc_dataset::load_vocabulary;

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The model folder written.
    pub out_dir: PathBuf,
    /// The network configuration read from `opt` and the vocabularies.
    pub config: ModelConfig,
    /// Epoch of the weights (1-based, as stored).
    pub epoch: usize,
    /// Best validation score stored with them.
    pub best_rsum: Option<f64>,
    /// The BoW and RNN vocabulary files used.
    pub vocab_files: [PathBuf; 2],
    /// Container format of the checkpoint.
    pub format: TorchFormat,
}

/// Where to find the vocabularies when the checkpoint does not say it all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VocabOverrides {
    /// The BoW vocabulary file (`.pkl` or `.json`).
    pub bow: Option<PathBuf>,
    /// The RNN vocabulary file (`.pkl` or `.json`).
    pub rnn: Option<PathBuf>,
}

/// Reads `checkpoint`, builds the network (validating every tensor's shape) and writes our
/// model folder `out_dir`. Vocabularies come from `overrides` or from the training collection
/// under `rootpath` named in the checkpoint's options.
pub fn import_checkpoint(
    checkpoint: &Path,
    rootpath: &Path,
    overrides: &VocabOverrides,
    out_dir: &Path,
) -> Result<ImportReport> {
    let file = TorchFile::open(checkpoint)?;
    let ckpt = Checkpoint::read(&file)?;
    let bow_path = vocab_path(
        rootpath,
        &ckpt.opt,
        "bow",
        overrides.bow.as_deref(),
        checkpoint,
    )?;
    let rnn_path = vocab_path(
        rootpath,
        &ckpt.opt,
        "rnn",
        overrides.rnn.as_deref(),
        checkpoint,
    )?;
    // Read (regular files only, bounded by their length) before they are parsed, so that a
    // device or FIFO given as a vocabulary is refused, not read for ever.
    let bow_bytes = read_bytes(&bow_path)?;
    let rnn_bytes = read_bytes(&rnn_path)?;
    let bow = load_vocabulary(&bow_path)?;
    let rnn = load_vocabulary(&rnn_path)?;
    let config = model_config(&ckpt.opt, bow.len(), rnn.len(), checkpoint)?;
    check_vocab_sizes(&ckpt.tensors, &config, [&bow_path, &rnn_path], checkpoint)?;
    let device = Default::default();
    let model =
        DualEncoding::<CpuBackend>::from_named_tensors(config.clone(), ckpt.tensors, &device)
            .map_err(|e| checkpoint_error(checkpoint, e.to_string()))?;
    let run = run_config(&ckpt.opt, config.clone(), checkpoint)?;
    let mut meta = ModelMeta::new(ckpt.epoch, ckpt.best_rsum);
    meta.extra.insert(
        "imported_from".into(),
        Json::from(checkpoint.display().to_string()),
    );
    if let Some(eiters) = ckpt.eiters {
        meta.extra.insert("Eiters".into(), Json::from(eiters));
    }
    let bow_name = format!("bow.{}", extension(&bow_path));
    let rnn_name = format!("rnn.{}", extension(&rnn_path));
    save_model_dir(
        out_dir,
        &model,
        &run,
        &meta,
        &[(&bow_name, &bow_bytes), (&rnn_name, &rnn_bytes)],
    )?;
    Ok(ImportReport {
        out_dir: out_dir.to_path_buf(),
        config,
        epoch: ckpt.epoch,
        best_rsum: ckpt.best_rsum,
        vocab_files: [bow_path, rnn_path],
        format: file.format,
    })
}

/// The parts of a checkpoint we use.
struct Checkpoint {
    epoch: usize,
    best_rsum: Option<f64>,
    eiters: Option<i64>,
    opt: Map<String, Json>,
    tensors: Vec<NamedTensor>,
}

impl Checkpoint {
    fn read(file: &TorchFile) -> Result<Self> {
        let path = file.path();
        if file.root.as_dict().is_none() {
            return Err(checkpoint_error(
                path,
                format!(
                    "the saved object is a {}, expected a dict",
                    file.root.type_name()
                ),
            ));
        }
        let model = file.get("model").ok_or_else(|| {
            checkpoint_error(
                path,
                format!("no `model` entry (keys: {})", keys(&file.root)),
            )
        })?;
        let parts = model.as_seq().filter(|p| p.len() == 2).ok_or_else(|| {
            checkpoint_error(
                path,
                "`model` must be a list [video state dict, text state dict]".into(),
            )
        })?;
        let mut tensors = prefixed(file, &parts[0], "video.")?;
        tensors.extend(prefixed(file, &parts[1], "text.")?);
        let opt = match file.get("opt").map(Value::to_json) {
            Some(Json::Object(map)) => map,
            _ => return Err(checkpoint_error(path, "no `opt` options object".into())),
        };
        let epoch = file
            .get("epoch")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0);
        Ok(Self {
            epoch: usize::try_from(epoch).unwrap_or(0),
            best_rsum: file.get("best_rsum").and_then(Value::as_f64),
            eiters: file.get("Eiters").and_then(Value::as_i64),
            opt,
            tensors,
        })
    }
}

fn keys(value: &Value) -> String {
    value
        .as_dict()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A state dict as named tensors with `prefix` prepended to every name; every value must
/// be finite.
fn prefixed(file: &TorchFile, dict: &Value, prefix: &str) -> Result<Vec<NamedTensor>> {
    file.state_dict(dict)?
        .into_iter()
        .map(|(name, tensor)| {
            let name = format!("{prefix}{name}");
            let data = to_f32(&tensor.data).ok_or_else(|| {
                checkpoint_error(
                    file.path(),
                    format!(
                        "tensor {name} has dtype {:?}, expected a number type",
                        tensor.dtype
                    ),
                )
            })?;
            check_finite(file.path(), &name, &data)?;
            Ok((name, tensor.shape, data))
        })
        .collect()
}

/// Refuses a tensor holding NaN or an infinity (after the conversion to f32): such weights
/// make every similarity NaN while max pooling and ranking hide it.
fn check_finite(checkpoint: &Path, name: &str, data: &[f32]) -> Result<()> {
    match data.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(checkpoint_error(
            checkpoint,
            format!(
                "tensor {name} holds {} at index {index} (the first value that is not \
                 finite); weights must be finite",
                data[index]
            ),
        )),
    }
}

fn to_f32(data: &TensorData) -> Option<Vec<f32>> {
    Some(match data {
        TensorData::F32(v) => v.clone(),
        TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        TensorData::I32(v) => v.iter().map(|&x| x as f32).collect(),
        TensorData::I16(v) => v.iter().map(|&x| f32::from(x)).collect(),
        TensorData::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        TensorData::Bool(_) => return None,
    })
}

/// The vocabulary file of `style`: the override, or `ROOT/TRAIN/TextData/vocabulary/STYLE/VOCAB`
/// with `.pkl` (the original's) or else `.json` (ours).
fn vocab_path(
    rootpath: &Path,
    opt: &Map<String, Json>,
    style: &str,
    given: Option<&Path>,
    checkpoint: &Path,
) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let train = opt_str(opt, "trainCollection", checkpoint)?;
    let vocab = opt_str(opt, "vocab", checkpoint)?;
    let dir = Collection::new(rootpath, train).vocabulary_dir(style);
    let candidates = [
        dir.join(format!("{vocab}.pkl")),
        dir.join(format!("{vocab}.json")),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            dualenc_dataset::DatasetError::Vocabulary {
                path: candidates[0].clone(),
                message: format!(
                    "not found (nor {}); give the file with --{style}-vocab",
                    candidates[1].display()
                ),
            }
            .into()
        })
}

/// The network configuration from the trainer's options and the vocabulary sizes.
fn model_config(
    opt: &Map<String, Json>,
    bow_size: usize,
    rnn_size: usize,
    checkpoint: &Path,
) -> Result<ModelConfig> {
    for (key, have, style) in [
        ("bow_vocab_size", bow_size, "BoW"),
        ("vocab_size", rnn_size, "RNN"),
    ] {
        if let Some(stored) = opt.get(key).and_then(Json::as_u64) {
            if usize::try_from(stored).ok() != Some(have) {
                return Err(checkpoint_error(
                    checkpoint,
                    format!("opt.{key} is {stored} but the {style} vocabulary has {have} words"),
                ));
            }
        }
    }
    let concate = match opt.get("concate").and_then(Json::as_str).unwrap_or("full") {
        "full" => Concate::Full,
        "reduced" => Concate::Reduced,
        other => {
            return Err(checkpoint_error(
                checkpoint,
                format!("opt.concate is {other:?}, expected \"full\" or \"reduced\""),
            ))
        }
    };
    let defaults = ModelConfig::default();
    let config = ModelConfig {
        visual_feat_dim: opt_usize(opt, "visual_feat_dim", checkpoint)?,
        visual_rnn_size: opt_usize(opt, "visual_rnn_size", checkpoint)?,
        visual_kernel_num: opt_usize(opt, "visual_kernel_num", checkpoint)?,
        visual_kernel_sizes: opt_sizes(opt, "visual_kernel_sizes", checkpoint)?,
        visual_mapping_layers: opt_sizes(opt, "visual_mapping_layers", checkpoint)?,
        word_dim: opt_usize(opt, "word_dim", checkpoint)?,
        text_rnn_size: opt_usize(opt, "text_rnn_size", checkpoint)?,
        text_kernel_num: opt_usize(opt, "text_kernel_num", checkpoint)?,
        text_kernel_sizes: opt_sizes(opt, "text_kernel_sizes", checkpoint)?,
        text_mapping_layers: opt_sizes(opt, "text_mapping_layers", checkpoint)?,
        concate,
        dropout: opt
            .get("dropout")
            .and_then(Json::as_f64)
            .unwrap_or(defaults.dropout),
        bow_vocab_size: bow_size,
        vocab_size: rnn_size,
        text_norm: opt.get("text_norm").and_then(Json::as_bool).unwrap_or(true),
        visual_norm: opt
            .get("visual_norm")
            .and_then(Json::as_bool)
            .unwrap_or(true),
        video_max_len: defaults.video_max_len,
    };
    config
        .resolve()
        .map_err(|e| checkpoint_error(checkpoint, e.to_string()))
}

/// The vocabulary sizes against the weights, with messages naming the vocabulary files.
fn check_vocab_sizes(
    tensors: &[NamedTensor],
    config: &ModelConfig,
    [bow_path, rnn_path]: [&Path; 2],
    checkpoint: &Path,
) -> Result<()> {
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, s, _)| s.clone())
    };
    if let Some(rows) = shape("text.embed.weight").and_then(|s| s.first().copied()) {
        if rows != config.vocab_size {
            return Err(checkpoint_error(
                checkpoint,
                format!(
                    "the RNN vocabulary {} has {} words but the word embedding has {rows} rows",
                    rnn_path.display(),
                    config.vocab_size
                ),
            ));
        }
    }
    if let Some(cols) = shape("text.text_mapping.fc1.weight").and_then(|s| s.get(1).copied()) {
        if cols != config.text_mapping_in() {
            return Err(checkpoint_error(
                checkpoint,
                format!(
                    "the text mapping takes {cols} inputs, but the network sizes with the BoW \
                     vocabulary {} ({} words) give {}",
                    bow_path.display(),
                    config.bow_vocab_size,
                    config.text_mapping_in()
                ),
            ));
        }
    }
    Ok(())
}

/// Every option of the checkpoint: the network, the loss, the optimiser, and the rest under
/// `extra` (`visual_feature`, `trainCollection`, ..., and the whole `opt`).
fn run_config(opt: &Map<String, Json>, model: ModelConfig, checkpoint: &Path) -> Result<RunConfig> {
    let pick = |keys: &[&str]| -> Json {
        Json::Object(
            keys.iter()
                .filter_map(|k| opt.get(*k).map(|v| ((*k).to_string(), v.clone())))
                .collect(),
        )
    };
    let loss: TripletLossConfig = serde_json::from_value(pick(&[
        "margin",
        "max_violation",
        "direction",
        "cost_style",
        "measure",
    ]))
    .map_err(|e| checkpoint_error(checkpoint, format!("loss options: {e}")))?;
    let mut optim = OptimConfig::default();
    if let Some(lr) = opt.get("learning_rate").and_then(Json::as_f64) {
        optim.learning_rate = lr;
    }
    if let Some(clip) = opt.get("grad_clip").and_then(Json::as_f64) {
        optim.grad_clip = clip;
    }
    if let Some(kind) = opt.get("optimizer") {
        optim.optimizer = serde_json::from_value(kind.clone())
            .map_err(|e| checkpoint_error(checkpoint, format!("opt.optimizer: {e}")))?;
    }
    let mut extra = Map::new();
    for key in [
        "visual_feature",
        "trainCollection",
        "valCollection",
        "vocab",
        "n_caption",
    ] {
        if let Some(value) = opt.get(key) {
            extra.insert(key.to_string(), value.clone());
        }
    }
    extra.insert("opt".into(), Json::Object(opt.clone()));
    Ok(RunConfig {
        model,
        loss,
        optim,
        extra,
    })
}

fn opt_str<'a>(opt: &'a Map<String, Json>, key: &str, checkpoint: &Path) -> Result<&'a str> {
    opt.get(key).and_then(Json::as_str).ok_or_else(|| {
        checkpoint_error(checkpoint, format!("opt.{key} is missing or not a string"))
    })
}

fn opt_usize(opt: &Map<String, Json>, key: &str, checkpoint: &Path) -> Result<usize> {
    opt.get(key)
        .and_then(Json::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| {
            checkpoint_error(
                checkpoint,
                format!("opt.{key} is missing or not a non-negative int"),
            )
        })
}

/// A size list: an int list (after the trainer's processing) or a `2-3-4` string.
fn opt_sizes(opt: &Map<String, Json>, key: &str, checkpoint: &Path) -> Result<Vec<usize>> {
    let bad = || {
        checkpoint_error(
            checkpoint,
            format!("opt.{key} is missing or not a list of sizes"),
        )
    };
    match opt.get(key) {
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(bad)
            })
            .collect(),
        Some(Json::String(text)) => parse_size_list(text)
            .map_err(|e| checkpoint_error(checkpoint, format!("opt.{key}: {e}"))),
        _ => Err(bad()),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("pkl")
        .to_ascii_lowercase()
}

/// The bytes of `path`, a regular file, read no further than its length.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    read_regular_file(path).map_err(|e| InferError::io(path, e))
}

fn checkpoint_error(path: &Path, message: String) -> InferError {
    InferError::Checkpoint {
        path: path.to_path_buf(),
        message,
    }
}
