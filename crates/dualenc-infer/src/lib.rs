//! Using a trained Dual Encoding model (docs/evaluation.md): importing the authors' checkpoints,
//! embedding a collection, testing (tester.py) and AVS prediction (predictor.py).
//!
//! - [`encode`]: batching exactly as the original's tester, validation and predictor, plus a
//!   batch-independent mode.
//! - [`import`]: `model_best.pth.tar` (zip or legacy, CPU or CUDA) into our model folder.
//! - [`session`]: a model folder loaded on a device; [`device`]: CPU or CUDA.
//! - [`embed`]: a collection's embeddings written as BigFiles.
//! - [`tester`]: metrics on a test collection; [`predictor`]: AVS runs and infAP.

pub mod device;
pub mod embed;
pub mod encode;
pub mod error;
pub mod import;
pub mod predictor;
pub mod session;
pub mod tester;

pub use device::{resolve_device, run_on, BackendTask, DeviceChoice, ResolvedDevice};
pub use embed::{embed_collection, EmbedOutputs, EmbedReport};
pub use encode::{
    encode_captions_alone, encode_collection_pairs, encode_collection_pairs_with,
    encode_collection_separately, encode_videos_alone, CollectionEmbeddings, EncodeOptions,
    DEFAULT_BATCH_SIZE,
};
pub use error::{InferError, Result};
pub use import::{import_checkpoint, ImportReport, VocabOverrides};
pub use predictor::{predict, PredictOptions, QuerySetReport, TopicPrefix};
pub use session::LoadedModel;
pub use tester::{test_model, CaptionLayout, TestOptions, TestReport};

/// The backend trait the generic functions take (re-exported so callers need no Burn dependency).
pub use burn::tensor::backend::Backend;
/// Batch-dependent (original) or batch-independent padding.
pub use dualenc_model::PaddingMode;
