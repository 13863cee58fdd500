//! What the `train` command does, as library calls: read and check the collections, complete
//! the network sizes from the data, train on the chosen device, and test the best model.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dualenc_data::collection::word2vec_dir;
use dualenc_infer::tester::TestReport;
use dualenc_infer::{
    test_model, DeviceChoice, EncodeOptions, LoadedModel, ResolvedDevice, TestOptions,
};
/// The backend traits [`TrainTask::run`] and the inference calls are generic over
/// (re-exported so that callers need no model dependency).
pub use dualenc_model::{ModelBackend, TrainBackend};

use crate::data::{load_run_data, word_vectors, DataSpec};
use crate::error::{Result, TrainError};
use crate::loader::SampleOrder;
use crate::trace::TraceWriter;
use crate::trainer::{
    train_observed, Observers, RunOptions, TrainInputs, TrainProgress, TrainSummary,
};
use crate::validate::PairValidator;
use crate::TrainConfig;
use dualenc_model::model_dir::read_safetensors;

/// Work generic over an autodiff backend, run by [`train_on`] on the chosen device.
pub trait TrainTask {
    /// What the work returns.
    type Output;
    /// Runs the work on `device` of backend `B`.
    fn run<B: TrainBackend>(self, device: B::Device) -> Result<Self::Output>;
}

/// Runs `task` on the CPU (Flex backend) or, in a build with the `cuda` feature, on CUDA.
pub fn train_on<T: TrainTask>(choice: DeviceChoice, task: T) -> Result<T::Output> {
    match dualenc_infer::resolve_device(choice).map_err(TrainError::Config)? {
        ResolvedDevice::Cpu => task.run::<dualenc_model::CpuAutodiffBackend>(Default::default()),
        ResolvedDevice::Cuda => run_cuda(task),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<T: TrainTask>(task: T) -> Result<T::Output> {
    task.run::<burn::backend::Autodiff<burn::backend::Cuda>>(Default::default())
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: TrainTask>(_task: T) -> Result<T::Output> {
    Err(TrainError::Config("CUDA is not part of this build".into()))
}

/// A complete training request.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The collections, feature and vocabulary.
    pub data: DataSpec,
    /// Captions per validation video (`None`: detect).
    pub n_caption: Option<usize>,
    /// Every option; the data-dependent sizes (feature dimension, vocabularies) are filled
    /// in from the data.
    pub config: TrainConfig,
    /// Word vectors for the initial embeddings; `None` uses `ROOT/word2vec/flickr/
    /// vec500flickr30m` when `word_dim` is 500 and it exists, as the original does.
    pub word2vec: Option<PathBuf>,
    /// Facts recorded in the model's `config.json` besides the options.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The run folder and hooks.
    pub options: RunOptions,
    /// Start from these weights (a safetensors file with PyTorch state-dict names, e.g. a
    /// model folder's weights or the original's initial draw) instead of a seeded draw.
    pub initial_weights: Option<PathBuf>,
    /// Visit the samples in these orders (a JSON list of caption-index lists, one per epoch)
    /// instead of seeded shuffles.
    pub sample_order: Option<PathBuf>,
    /// Write a step-by-step trace of the run here ([`crate::trace`]).
    pub trace: Option<PathBuf>,
}

/// Reads and checks the data, then trains (see [`crate::train`]), reporting to `progress`.
pub fn run_training<B: TrainBackend>(
    request: &TrainRequest,
    device: &B::Device,
    progress: &mut dyn TrainProgress,
) -> Result<TrainSummary> {
    let data = load_run_data(&request.data)?;
    let mut config = request.config.clone();
    config.model.visual_feat_dim = data.feature_dim;
    config.model.bow_vocab_size = data.bow_size;
    config.model.vocab_size = data.rnn_vocab.len();
    config.model = config.model.resolve()?;
    config.validate()?;
    let mut validator = PairValidator::new(
        data.val,
        request.n_caption,
        config.val_batch_size,
        config.loss.measure,
    )?;
    let vectors = match word2vec_path(request, config.model.word_dim) {
        Some(path) => Some(word_vectors(&path, &data.rnn_vocab, config.model.word_dim)?),
        None => None,
    };
    let mut extra = request.extra.clone();
    for (key, value) in [
        ("trainCollection", &request.data.train),
        ("valCollection", &request.data.val),
        ("visual_feature", &request.data.feature),
        ("vocab", &request.data.vocab),
    ] {
        extra.insert(key.into(), value.clone().into());
    }
    let inputs = TrainInputs {
        train: Arc::new(data.train),
        vocab_files: data.vocab_files,
        word_vectors: vectors,
        extra,
        initial_weights: match &request.initial_weights {
            Some(path) => Some(read_safetensors(path)?),
            None => None,
        },
        order: match &request.sample_order {
            Some(path) => SampleOrder::Given(Arc::new(read_sample_order(path)?)),
            None => SampleOrder::Shuffled,
        },
    };
    let mut trace = request.trace.clone().map(TraceWriter::new);
    let mut observers = Observers {
        progress,
        other: trace
            .as_mut()
            .map(|t| t as &mut dyn crate::TrainObserver<B>),
    };
    let options = &request.options;
    train_observed::<B, _>(
        &config,
        &inputs,
        &mut validator,
        options,
        device,
        &mut observers,
    )
}

/// Reads a sample-order file: a JSON list with one list of caption indices per epoch.
pub fn read_sample_order(path: &Path) -> Result<Vec<Vec<usize>>> {
    let bytes =
        dualenc_data::untrusted::read_regular_file(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrainError::Format {
        path: path.to_path_buf(),
        message: format!("expected a JSON list of index lists, one per epoch: {e}"),
    })
}

fn word2vec_path(request: &TrainRequest, word_dim: usize) -> Option<PathBuf> {
    if let Some(path) = &request.word2vec {
        return Some(path.clone());
    }
    let default = word2vec_dir(&request.data.rootpath);
    match (word_dim == 500, default.exists()) {
        (true, true) => Some(default),
        (true, false) => {
            tracing::warn!(
                "no word2vec at {}: word embeddings start from U(-0.1, 0.1)",
                default.display()
            );
            None
        }
        _ => None,
    }
}

/// Tests the model folder `model_dir` on `test` as the original tester (batches of 128).
pub fn run_test<B: ModelBackend>(
    model_dir: &Path,
    rootpath: &Path,
    test: &str,
    n_caption: Option<usize>,
    device: &B::Device,
) -> Result<TestReport> {
    let loaded = LoadedModel::<B>::load(model_dir, device)?;
    let options = TestOptions {
        rootpath: rootpath.to_path_buf(),
        collection: test.to_string(),
        feature: loaded.feature_or(None)?,
        n_caption,
        encode: EncodeOptions::default(),
        measure: loaded.config.loss.measure,
    };
    Ok(test_model(
        &loaded.model,
        &loaded.vocab,
        model_dir,
        &options,
        &mut |_| {},
    )?)
}
