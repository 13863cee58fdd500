//! The compute kernels of the Dual Encoding network, as Burn custom operations with their own
//! backward passes: each a backend trait implemented for the CPU backend (Flex: fused loops
//! over plain buffers on both cores, bf16 products on Intel AMX tiles), for `Autodiff` (one
//! graph node each) and for the CubeCL GPU backends (CUDA, and wgpu for the tests).
//!
//! - [`gru`]: the GRU recurrence over all time steps ([`GruBackend`]).
//! - [`conv`]: the convolutions' window sums ([`ConvBackend`]).
//! - [`optim`]: the optimiser's update and the squared norm of a gradient ([`OptimBackend`]).
//! - [`precision`]: f32 or bf16 large matrix products ([`MixedPrecisionBackend`]) and the
//!   thread's precision setting.
//! - [`custom_op`]: conversions between tensors and backend primitives.
//!
//! The network (`dualenc-model`) depends on this crate, never the other way round.

pub mod conv;
pub mod custom_op;
pub mod gru;
pub mod optim;
pub mod precision;

pub use conv::ConvBackend;
pub use gru::GruBackend;
pub use optim::{AdamCoefficients, OptimBackend};
pub use precision::{MixedPrecisionBackend, Precision};

/// The CPU backend the kernels are written for.
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend with automatic differentiation.
pub type CpuAutodiffBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// A backend with every kernel of the network.
pub trait KernelBackend: GruBackend + ConvBackend + OptimBackend + MixedPrecisionBackend {}
impl<B: GruBackend + ConvBackend + OptimBackend + MixedPrecisionBackend> KernelBackend for B {}
