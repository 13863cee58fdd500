//! The Dual Encoding network (CVPR 2019) in Burn, matching the original PyTorch code.
//!
//! - [`gru`], [`conv`], [`mapping`]: the building blocks with PyTorch's parameter layout.
//! - [`video_encoder`], [`text_encoder`], [`model`]: the two multi-level encoders and the
//!   whole network, importable from / exportable to a PyTorch-named state dict.
//! - [`batch`]: host batches (`dualenc_dataset::collate`) checked and moved to a device.
//! - [`triplet_loss`], [`optim`], [`train_step`]: loss, global-norm clipping, Adam, one step.
//! - [`init`]: the original's initial distributions; [`model_dir`]: the on-disk format.
//!
//! The network is generic over the Burn backend; its compute kernels (the GRU recurrence, the
//! convolutions' window sums, the optimiser update, bf16 products) are `dualenc-kernels`'s
//! custom operations. Training needs an autodiff backend such as `Autodiff<Flex>`.

pub mod batch;
pub mod config;
pub mod conv;
pub mod encoder;
pub mod error;
pub mod gru;
pub mod init;
pub mod mapping;
pub mod model;
pub mod model_dir;
pub mod named;
pub mod optim;
pub mod text_encoder;
pub mod train_step;
pub mod triplet_loss;
pub mod video_encoder;

pub use config::{Concate, ModelConfig};
/// Precision of the large matrix products (a setting of the running thread).
pub use dualenc_kernels::Precision;
pub use encoder::{EncoderTrace, PaddingMode};
pub use error::{ModelError, Result};
pub use mapping::Mode;
pub use model::{state_dict_specs, DualEncoding, PairTrace};
pub use model_dir::{ModelDir, ModelMeta, RunConfig};
pub use named::NamedTensor;
pub use optim::{OptimConfig, Optimizer, OptimizerKind};
pub use train_step::{train_step, StepReport};
pub use triplet_loss::{triplet_loss, TripletLossConfig};

pub use dualenc_kernels::{CpuAutodiffBackend, CpuBackend};

/// A backend the network runs on: Burn's operations plus the kernels of `dualenc-kernels`
/// (the GRU recurrence and the convolutions' window sums, fused on the CPU, one autodiff node
/// each under `Autodiff`; the optimiser update; the mixed-precision product).
pub trait ModelBackend: dualenc_kernels::KernelBackend {}
impl<B: dualenc_kernels::KernelBackend> ModelBackend for B {}

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
