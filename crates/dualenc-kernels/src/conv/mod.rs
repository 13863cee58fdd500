//! The window sums of the convolution bank (each output position sums `w` shifted steps of
//! one matrix product) as one custom operation with its own backward pass, on the CPU and on
//! the CubeCL backends (`cube`).

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube;
mod op;

pub use op::ConvBackend;
