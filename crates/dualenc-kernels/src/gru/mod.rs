//! The GRU recurrence (PyTorch's equations, gates `[r; z; n]`) over all time steps of a batch
//! as one custom operation with its own backward pass: fused on the CPU ([`cpu`]), one matmul
//! and one kernel per step on the CubeCL backends (`cube`), and the tensor-operation
//! definition the kernels are tested against ([`reference`]).

mod cpu;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube;
mod op;
pub mod reference;

pub use op::GruBackend;
