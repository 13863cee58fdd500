//! The ResNet behind [`FrameEncoder`], and the choice of the device it runs on.

use std::path::Path;

use burn::tensor::backend::Backend;
use dualenc_video::{EncodeError, FrameEncoder};

use crate::config::ResNetConfig;
use crate::error::Result;
use crate::resnet::ResNet;

/// Side of the images torchvision's ResNets are used at.
pub const DEFAULT_INPUT_SIZE: usize = 224;

/// The CPU backend (Burn's Flex), the same type the network uses.
pub type CpuBackend = dualenc_kernels::CpuBackend;

/// Whether this build includes the CUDA backend (the `cuda` feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Where a ResNet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CnnDevice {
    /// The CPU (Flex backend).
    #[default]
    Cpu,
    /// CUDA GPU 0; an error in a build without the `cuda` feature.
    Cuda,
}

/// A ResNet encoding frames on a device: images go through in the batches given.
#[derive(Debug)]
pub struct ResNetEncoder<B: Backend> {
    model: ResNet<B>,
    device: B::Device,
    input_size: usize,
}

impl<B: Backend> ResNetEncoder<B> {
    /// Wraps a loaded network; it takes [`DEFAULT_INPUT_SIZE`] images until told otherwise.
    pub fn new(model: ResNet<B>, device: B::Device) -> Self {
        ResNetEncoder {
            model,
            device,
            input_size: DEFAULT_INPUT_SIZE,
        }
    }

    /// Loads the weights file `path` (torchvision `.pth` or safetensors) with the
    /// configuration given or read off the file.
    pub fn open(path: &Path, config: Option<ResNetConfig>, device: B::Device) -> Result<Self> {
        let model = ResNet::open(path, config, &device)?;
        Ok(Self::new(model, device))
    }

    /// Sets the side of the square images the encoder reports it takes (any size runs: the
    /// network ends in a global pool).
    pub fn with_input_size(mut self, input_size: usize) -> Self {
        self.input_size = input_size;
        self
    }

    /// The network.
    pub fn model(&self) -> &ResNet<B> {
        &self.model
    }
}

impl<B: Backend> FrameEncoder for ResNetEncoder<B> {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn input_size(&self) -> usize {
        self.input_size
    }

    fn encode(&mut self, images: &[f32], n: usize) -> std::result::Result<Vec<f32>, EncodeError> {
        let s = self.input_size;
        Ok(self.model.features(images, n, [s, s], &self.device)?)
    }
}

/// Loads a ResNet weights file onto `device` as a boxed [`FrameEncoder`] taking
/// `input_size` images; the configuration is read off the file when not given.
pub fn open_resnet_encoder(
    path: &Path,
    config: Option<ResNetConfig>,
    device: CnnDevice,
    input_size: usize,
) -> Result<Box<dyn FrameEncoder + Send>> {
    match device {
        CnnDevice::Cpu => {
            let encoder = ResNetEncoder::<CpuBackend>::open(path, config, Default::default())?;
            Ok(Box::new(encoder.with_input_size(input_size)))
        }
        CnnDevice::Cuda => open_cuda(path, config, input_size),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(
    path: &Path,
    config: Option<ResNetConfig>,
    input_size: usize,
) -> Result<Box<dyn FrameEncoder + Send>> {
    let encoder = ResNetEncoder::<burn::backend::Cuda>::open(path, config, Default::default())?;
    Ok(Box::new(encoder.with_input_size(input_size)))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(
    _path: &Path,
    _config: Option<ResNetConfig>,
    _input_size: usize,
) -> Result<Box<dyn FrameEncoder + Send>> {
    Err(cuda_missing())
}

/// The error for CUDA asked of a build without it.
#[cfg(not(feature = "cuda"))]
pub(crate) fn cuda_missing() -> crate::error::CnnError {
    crate::error::CnnError::Device(
        "this build has no CUDA backend: rebuild with the `cuda` feature or use the CPU".into(),
    )
}
