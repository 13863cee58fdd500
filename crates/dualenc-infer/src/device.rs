//! Choosing the compute device: the CPU (Burn's Flex backend) always, CUDA when this crate is
//! built with the `cuda` feature.

use dualenc_model::ModelBackend;

use crate::error::{InferError, Result};

/// The device a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA when built with it, else the CPU.
    #[default]
    Auto,
    /// The CPU (Flex backend).
    Cpu,
    /// The first CUDA GPU; an error in a build without CUDA.
    Cuda,
}

/// Whether this build includes the CUDA backend.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Work generic over the backend, run by [`run_on`] on the chosen device.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on `device` of backend `B`.
    fn run<B: ModelBackend>(self, device: B::Device) -> Result<Self::Output>;
}

/// Runs `task` on the chosen device.
pub fn run_on<T: BackendTask>(choice: DeviceChoice, task: T) -> Result<T::Output> {
    match (choice, CUDA_BUILT) {
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, false) => {
            tracing::info!("device: CPU (Flex backend)");
            task.run::<dualenc_model::CpuBackend>(Default::default())
        }
        (DeviceChoice::Cuda, false) => Err(InferError::Device(
            "this binary was built without CUDA: rebuild with the `cuda` feature \
             (cargo build --release --features dualenc-infer/cuda) or use --device cpu"
                .into(),
        )),
        (DeviceChoice::Cuda | DeviceChoice::Auto, true) => run_cuda(task),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(task: T) -> Result<T::Output> {
    tracing::info!("device: CUDA GPU 0");
    task.run::<burn::backend::Cuda>(Default::default())
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(_task: T) -> Result<T::Output> {
    Err(InferError::Device("CUDA is not part of this build".into()))
}
