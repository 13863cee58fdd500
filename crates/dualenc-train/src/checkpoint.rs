//! The resumable state of a run, saved after every epoch.
//!
//! `OUT/checkpoint/epoch_NNNN/` is a model folder (`dualenc_model::model_dir`) plus
//! `optimizer.safetensors` (Adam's moments, `NAME.exp_avg` / `NAME.exp_avg_sq`) and
//! `trainer_state.json` (options, schedule, step counters, history). `OUT/checkpoint/LATEST`
//! names the newest complete folder; it is replaced atomically only once that folder is
//! whole, and older folders are removed afterwards. A run killed at any moment therefore
//! leaves the last complete epoch's state, and `--resume` continues from it.

use dualenc_model::ModelBackend;
use dualenc_model::TrainBackend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use dualenc_model::model_dir::{read_safetensors, save_model_dir, write_safetensors, ModelDir};
use dualenc_model::named::{tensor_to_vec, NamedTensor};
use dualenc_model::optim::OptimState;
use dualenc_model::{DualEncoding, ModelMeta, Optimizer, RunConfig};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::history::EpochRecord;
use crate::schedule::Schedule;

/// Folder of the checkpoints inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// File naming the newest complete checkpoint folder.
pub const LATEST_FILE: &str = "LATEST";
/// Adam's moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Options, schedule, counters and history.
pub const STATE_FILE: &str = "trainer_state.json";
/// Version of the checkpoint layout.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Everything but the weights and Adam's moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Layout version.
    pub format_version: u32,
    /// The run's options.
    pub config: TrainConfig,
    /// Rate, counters and best score.
    pub schedule: Schedule,
    /// Training steps taken so far (the original's `Eiters`).
    pub eiters: u64,
    /// Adam's step count per parameter.
    pub adam_steps: BTreeMap<String, i32>,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
}

/// A checkpoint read back from disk.
pub struct Checkpoint<B: TrainBackend> {
    /// The network.
    pub model: DualEncoding<B>,
    /// The optimiser with its moments (kept on the inner backend).
    pub adam: Optimizer<B::InnerBackend>,
    /// Options, schedule, counters and history.
    pub state: TrainerState,
}

/// What [`save`] writes besides the state.
pub struct SaveInputs<'a, B: Backend> {
    /// The network.
    pub model: &'a DualEncoding<B>,
    /// Its `config.json` content.
    pub run_config: &'a RunConfig,
    /// Vocabulary files copied into the model folder.
    pub vocab_files: &'a [(String, Vec<u8>)],
}

/// Writes the checkpoint of `state` (after `state.schedule.epochs_done()` epochs) into
/// `run_dir`, makes it the latest and removes older ones.
pub fn save<B: Backend, I: Backend>(
    run_dir: &Path,
    inputs: &SaveInputs<'_, B>,
    adam: &Optimizer<I>,
    state: &TrainerState,
) -> Result<()> {
    let root = run_dir.join(CHECKPOINT_DIR);
    let name = format!("epoch_{:04}", state.schedule.epochs_done());
    let dir = root.join(&name);
    let meta = ModelMeta::new(
        state.schedule.epochs_done(),
        Some(state.schedule.best_score()),
    );
    let vocab: Vec<(&str, &[u8])> = inputs
        .vocab_files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    save_model_dir(&dir, inputs.model, inputs.run_config, &meta, &vocab)?;
    let (tensors, steps) = adam_tensors(inputs.model, adam)?;
    write_safetensors(&dir.join(OPTIMIZER_FILE), &tensors)?;
    let state = TrainerState {
        adam_steps: steps,
        ..state.clone()
    };
    write_json(&dir.join(STATE_FILE), &state)?;
    write_bytes(&root.join(LATEST_FILE), name.as_bytes())?;
    remove_older(&root, &name)
}

/// The latest checkpoint folder of `run_dir`, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    let root = run_dir.join(CHECKPOINT_DIR);
    let pointer = root.join(LATEST_FILE);
    match dualenc_data::untrusted::read_regular_text(&pointer) {
        Ok(name) => {
            let dir = root.join(name.trim());
            if !dir.is_dir() {
                return Err(TrainError::Format {
                    path: pointer,
                    message: format!("names `{}`, which is not a folder", name.trim()),
                });
            }
            Ok(Some(dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(pointer, e)),
    }
}

/// Reads the checkpoint folder `dir` onto `device`.
pub fn load<B: TrainBackend>(dir: &Path, device: &B::Device) -> Result<Checkpoint<B>> {
    let state: TrainerState = read_json(&dir.join(STATE_FILE))?;
    if state.format_version != CHECKPOINT_VERSION {
        return Err(TrainError::Format {
            path: dir.join(STATE_FILE),
            message: format!(
                "checkpoint layout version {}, this build reads version {CHECKPOINT_VERSION}",
                state.format_version
            ),
        });
    }
    let model = ModelDir::read(dir)?.into_model::<B>(device)?;
    let moments = read_safetensors(&dir.join(OPTIMIZER_FILE))?;
    let adam = restore_adam::<B::InnerBackend>(&state, moments, device, &dir.join(OPTIMIZER_FILE))?;
    Ok(Checkpoint { model, adam, state })
}

/// Adam's moments as named tensors (`NAME.exp_avg`, `NAME.exp_avg_sq`) and step counts, for
/// every parameter of `model` that has been stepped.
fn adam_tensors<B: Backend, I: Backend>(
    model: &DualEncoding<B>,
    adam: &Optimizer<I>,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, i32>)> {
    let mut tensors = Vec::new();
    let mut steps = BTreeMap::new();
    for (name, shape, _) in model.to_named_tensors()? {
        let Some(s) = adam.state(&name) else { continue };
        let numel = shape.iter().product::<usize>();
        tensors.push((
            format!("{name}.exp_avg"),
            vec![numel],
            tensor_to_vec(s.exp_avg.clone())?,
        ));
        tensors.push((
            format!("{name}.exp_avg_sq"),
            vec![numel],
            tensor_to_vec(s.exp_avg_sq.clone())?,
        ));
        steps.insert(name, s.step);
    }
    Ok((tensors, steps))
}

fn restore_adam<B: ModelBackend>(
    state: &TrainerState,
    moments: Vec<NamedTensor>,
    device: &B::Device,
    path: &Path,
) -> Result<Optimizer<B>> {
    let states = adam_states::<B>(state, moments, device, path)?;
    let mut adam = Optimizer::new(state.config.optim.clone());
    adam.set_learning_rate(state.schedule.learning_rate());
    Ok(install(adam, states))
}

/// Adam's per-parameter state rebuilt from the saved moments and step counts.
fn adam_states<B: ModelBackend>(
    state: &TrainerState,
    moments: Vec<NamedTensor>,
    device: &B::Device,
    path: &Path,
) -> Result<Vec<(String, OptimState<B>)>> {
    let mut by_name: BTreeMap<String, Vec<f32>> =
        moments.into_iter().map(|(n, _, d)| (n, d)).collect();
    let mut take = |key: String| {
        by_name.remove(&key).ok_or_else(|| TrainError::Format {
            path: path.to_path_buf(),
            message: format!("missing tensor `{key}`"),
        })
    };
    let vector = |data: Vec<f32>| {
        let n = data.len();
        Tensor::<B, 1>::from_data(TensorData::new(data, [n]), device)
    };
    let mut out = Vec::with_capacity(state.adam_steps.len());
    for (name, &step) in &state.adam_steps {
        let exp_avg = take(format!("{name}.exp_avg"))?;
        let exp_avg_sq = take(format!("{name}.exp_avg_sq"))?;
        if exp_avg.len() != exp_avg_sq.len() {
            return Err(TrainError::Format {
                path: path.to_path_buf(),
                message: format!("the two moments of `{name}` differ in length"),
            });
        }
        out.push((
            name.clone(),
            OptimState {
                step,
                exp_avg: vector(exp_avg),
                exp_avg_sq: vector(exp_avg_sq),
            },
        ));
    }
    Ok(out)
}

/// Puts the saved moments into `adam`, so the next step continues exactly where the
/// interrupted run would have.
fn install<B: ModelBackend>(
    mut adam: Optimizer<B>,
    states: Vec<(String, OptimState<B>)>,
) -> Optimizer<B> {
    for (name, state) in states {
        adam.set_state(name, state);
    }
    adam
}

fn remove_older(root: &Path, keep: &str) -> Result<()> {
    let entries = std::fs::read_dir(root).map_err(|e| TrainError::io(root, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = name.starts_with("epoch_") || name.starts_with(".dualenc-model-");
        if stale && name != keep && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(|e| TrainError::io(entry.path(), e))?;
        }
    }
    Ok(())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    dualenc_data::atomic::write_bytes_atomic(path, bytes).map_err(|e| TrainError::io(path, e))
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| TrainError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_bytes(path, &text)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text =
        dualenc_data::untrusted::read_regular_file(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| TrainError::Format {
        path: path.to_path_buf(),
        message: format!("invalid JSON at line {}: {e}", e.line()),
    })
}
