//! The Dual Encoding network (CVPR 2019) in Burn, matching the original PyTorch code.
//!
//! - [`gru`], [`conv`], [`mapping`]: the building blocks with PyTorch's parameter layout.
//! - [`video_encoder`], [`text_encoder`], [`model`]: the two multi-level encoders and the
//!   whole network, importable from / exportable to a PyTorch-named state dict.
//! - [`batch`]: collation of raw videos and captions exactly as the original.
//! - [`triplet_loss`], [`optim`], [`train_step`]: loss, global-norm clipping, Adam, one step.
//! - [`init`]: the original's initial distributions; [`model_dir`]: the on-disk format.
//! - [`precision`]: f32 or bf16 (mixed precision) for the large matrix products.
//! - [`speed`]: random inputs of chosen sizes and timed steps, for speed measurements.
//!
//! The network is generic over the Burn backend; training needs an autodiff backend such as
//! `Autodiff<Flex>`.

pub mod batch;
pub mod config;
pub mod conv;
mod custom_op;
pub mod encoder;
pub mod error;
pub mod gru;
pub mod init;
pub mod mapping;
pub mod model;
pub mod model_dir;
pub mod named;
pub mod optim;
pub mod precision;
pub mod speed;
pub mod text_encoder;
pub mod train_step;
pub mod triplet_loss;
pub mod video_encoder;

pub use batch::{
    collate_captions, collate_pairs, collate_videos, CaptionInput, PairBatch, TextBatch,
    VideoBatch, VideoFrames, VIDEO_MAX_LEN,
};
pub use config::{Concate, ModelConfig};
pub use encoder::{EncoderTrace, PaddingMode};
pub use error::{ModelError, Result};
pub use mapping::Mode;
pub use model::{state_dict_specs, DualEncoding, PairTrace};
pub use model_dir::{ModelDir, ModelMeta, RunConfig};
pub use named::NamedTensor;
pub use optim::{OptimConfig, Optimizer, OptimizerKind};
pub use precision::Precision;
pub use train_step::{train_step, StepReport};
pub use triplet_loss::{triplet_loss, TripletLossConfig};

/// The CPU backend used by default.
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend with automatic differentiation, for training.
pub type CpuAutodiffBackend = burn::backend::Autodiff<burn::backend::Flex>;

pub use conv::ConvBackend;
pub use gru::GruBackend;
pub use optim::OptimBackend;
pub use precision::MixedPrecisionBackend;

/// A backend the network runs on: Burn's operations plus four custom operations, the GRU
/// recurrence and the convolutions' window sums (fused on the CPU, one autodiff node each
/// under `Autodiff`), the Adam update (one pass on the CPU) and the mixed-precision product.
pub trait ModelBackend: GruBackend + ConvBackend + OptimBackend + MixedPrecisionBackend {}
impl<B: GruBackend + ConvBackend + OptimBackend + MixedPrecisionBackend> ModelBackend for B {}

/// A backend the network trains on: autodiff over a [`ModelBackend`], whose inner backend
/// runs validation.
pub trait TrainBackend:
    burn::tensor::backend::AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend
{
}
impl<B> TrainBackend for B
where
    B: burn::tensor::backend::AutodiffBackend + ModelBackend,
    B::InnerBackend: ModelBackend,
{
}
