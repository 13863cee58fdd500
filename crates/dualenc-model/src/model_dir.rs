//! The model folder: `config.json` (every option), `model.safetensors` (the state dict with
//! the original PyTorch names prefixed `video.`/`text.`), `meta.json` (epoch, best score,
//! versions) and `vocab/` (the vocabulary files, copied in as given).
//!
//! A folder is written into a temporary sibling and renamed into place, so an interrupted
//! save leaves the previous model intact.
//!
//! A folder may come from elsewhere: its files are read only when they are regular files,
//! never beyond their length, and weights that are not finite (NaN, inf) are refused.

use dualenc_data::untrusted::read_regular_file;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::model::DualEncoding;
use crate::named::NamedTensor;
use crate::optim::OptimConfig;
use crate::triplet_loss::TripletLossConfig;

/// File holding [`RunConfig`].
pub const CONFIG_FILE: &str = "config.json";
/// File holding the state dict.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File holding [`ModelMeta`].
pub const META_FILE: &str = "meta.json";
/// Folder holding the vocabulary files.
pub use dualenc_dataset::VOCAB_DIR;
/// Version of this folder layout.
pub const FORMAT_VERSION: u32 = 1;

/// Every option a model was built and trained with (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunConfig {
    /// Network sizes.
    pub model: ModelConfig,
    /// Loss options.
    pub loss: TripletLossConfig,
    /// Optimiser options.
    pub optim: OptimConfig,
    /// Any further options (e.g. the trainer's collections and schedule).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl RunConfig {
    /// Reads only the `config.json` of the model folder `dir` (no weights): enough to know
    /// what a model takes before loading it.
    pub fn read(dir: &Path) -> Result<Self> {
        read_json(&dir.join(CONFIG_FILE))
    }

    /// The frame feature the model was trained on, if its options record it
    /// (`visual_feature`, or `feature` in older folders).
    pub fn feature(&self) -> Option<&str> {
        ["visual_feature", "feature"]
            .iter()
            .find_map(|k| self.extra.get(*k).and_then(|v| v.as_str()))
    }
}

/// Provenance of a saved model (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Epoch the weights come from (1-based, as the original stores it).
    pub epoch: usize,
    /// Validation score of these weights, if known.
    pub best_score: Option<f64>,
    /// Version of the folder layout.
    pub format_version: u32,
    /// Version of the crate that wrote the folder.
    pub crate_version: String,
    /// Further provenance (e.g. the imported checkpoint's path or iteration count).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelMeta {
    /// Meta data for weights of `epoch` with validation score `best_score`.
    pub fn new(epoch: usize, best_score: Option<f64>) -> Self {
        Self {
            epoch,
            best_score,
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            extra: serde_json::Map::new(),
        }
    }
}

/// A model folder read from disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The folder.
    pub path: PathBuf,
    /// `config.json`.
    pub config: RunConfig,
    /// `meta.json`.
    pub meta: ModelMeta,
    /// `model.safetensors`.
    pub tensors: Vec<NamedTensor>,
}

impl ModelDir {
    /// Reads and parses the three files of the folder `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let config = read_json(&path.join(CONFIG_FILE))?;
        let meta = read_json(&path.join(META_FILE))?;
        let tensors = read_safetensors(&path.join(WEIGHTS_FILE))?;
        Ok(Self {
            path: path.to_path_buf(),
            config,
            meta,
            tensors,
        })
    }

    /// Path of the vocabulary file `name` inside the folder.
    pub fn vocab_path(&self, name: &str) -> PathBuf {
        self.path.join(VOCAB_DIR).join(name)
    }

    /// Builds the network on `device` from the folder's weights.
    pub fn into_model<B: Backend>(self, device: &B::Device) -> Result<DualEncoding<B>> {
        let path = self.path.join(WEIGHTS_FILE);
        DualEncoding::from_named_tensors(self.config.model, self.tensors, device).map_err(|e| {
            ModelError::Format {
                path,
                message: e.to_string(),
            }
        })
    }
}

/// Writes the model folder `dir` (replacing any previous one): config, weights, meta and the
/// vocabulary files `(file name, bytes)`.
pub fn save_model_dir<B: Backend>(
    dir: &Path,
    model: &DualEncoding<B>,
    config: &RunConfig,
    meta: &ModelMeta,
    vocab_files: &[(&str, &[u8])],
) -> Result<()> {
    if config.model != *model.config() {
        return Err(ModelError::Config(
            "the run configuration's model section differs from the network's".into(),
        ));
    }
    dualenc_data::atomic::write_dir_atomic(
        dir,
        |tmp| {
            write_json(&tmp.join(CONFIG_FILE), config)?;
            write_json(&tmp.join(META_FILE), meta)?;
            write_safetensors(&tmp.join(WEIGHTS_FILE), &model.to_named_tensors()?)?;
            for (name, bytes) in vocab_files {
                let path = vocab_file_path(tmp, name)?;
                write_bytes(&path, bytes)?;
            }
            Ok(())
        },
        io_err,
    )
}

fn vocab_file_path(root: &Path, name: &str) -> Result<PathBuf> {
    let plain = Path::new(name)
        .file_name()
        .is_some_and(|f| f == std::ffi::OsStr::new(name));
    if !plain {
        return Err(ModelError::Config(format!(
            "vocabulary file name `{name}` must be a plain file name"
        )));
    }
    Ok(root.join(VOCAB_DIR).join(name))
}

fn io_err(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    dualenc_data::atomic::write_bytes_atomic(path, bytes).map_err(|e| io_err(path, e))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_bytes(path, &text)
}

/// Reads the whole of `path` bounded by its length, regular files only (see
/// [`dualenc_data::untrusted`]).
fn read_file(path: &Path) -> Result<Vec<u8>> {
    read_regular_file(path).map_err(|e| io_err(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = read_file(path)?;
    serde_json::from_slice(&text).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        message: format!("invalid JSON at line {}: {e}", e.line()),
    })
}

/// Whether a state-dict entry is an integer counter (stored as I64 like PyTorch does).
fn is_counter(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// Writes named tensors as safetensors: F32, except `*num_batches_tracked` as I64.
pub fn write_safetensors(path: &Path, tensors: &[NamedTensor]) -> Result<()> {
    let encoded: Vec<(&str, Dtype, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            if is_counter(name) {
                let bytes = data
                    .iter()
                    .flat_map(|&x| (x.round() as i64).to_le_bytes())
                    .collect();
                (name.as_str(), Dtype::I64, shape.as_slice(), bytes)
            } else {
                let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name.as_str(), Dtype::F32, shape.as_slice(), bytes)
            }
        })
        .collect();
    let format_err = |message: String| ModelError::Format {
        path: path.to_path_buf(),
        message,
    };
    let views = encoded
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.to_vec(), bytes)
                .map(|v| (*name, v))
                .map_err(|e| format_err(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), "dualenc".to_string())]);
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| format_err(e.to_string()))?;
    write_bytes(path, &bytes)
}

/// Reads every tensor of a safetensors file as f32 (F32, F64 and I64 accepted), sorted by
/// name. Only a regular file is read, no further than its length; a value that is not
/// finite (NaN, inf, or an F64 beyond the f32 range) is an error naming the file, the
/// tensor and the index of the first such value.
pub fn read_safetensors(path: &Path) -> Result<Vec<NamedTensor>> {
    let bytes = read_file(path)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        message: format!("not a safetensors file: {e}"),
    })?;
    let mut out = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = decode(view.dtype(), view.data()).ok_or_else(|| ModelError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "tensor `{name}` has dtype {:?}; expected F32, F64 or I64",
                    view.dtype()
                ),
            })?;
            check_finite(path, &name, &data)?;
            Ok((name, view.shape().to_vec(), data))
        })
        .collect::<Result<Vec<NamedTensor>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Refuses a tensor holding NaN or an infinity: such weights make every similarity NaN
/// while max pooling and ranking hide it.
fn check_finite(path: &Path, name: &str, data: &[f32]) -> Result<()> {
    match data.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(ModelError::Format {
            path: path.to_path_buf(),
            message: format!(
                "tensor `{name}` holds {} at index {index} (the first value that is not \
                 finite); weights must be finite",
                data[index]
            ),
        }),
    }
}

fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F64 => Some(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
        ),
        Dtype::I64 => Some(
            bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
        ),
        _ => None,
    }
}
