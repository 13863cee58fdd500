//! Timing our ResNet the way `scripts/cnn/bench_torchvision.py` times torchvision's:
//! random weights, one untimed warm-up batch, then whole batches of square images, the
//! features read back to the host after each (which waits for the device).

use std::time::Instant;

use burn::tensor::backend::Backend;

use crate::config::ResNetConfig;
use crate::encoder::{CnnDevice, CpuBackend};
use crate::error::{CnnError, Result};
use crate::resnet::ResNet;
use crate::weights::StateDict;

/// The batch size of the comparison with torchvision.
pub const BENCH_BATCH: usize = 32;

/// What a timing run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Images encoded per second over the timed batches.
    pub frames_per_second: f64,
    /// Images per batch.
    pub batch: usize,
    /// Number of timed batches.
    pub batches: usize,
    /// Side of the square images.
    pub input_size: usize,
    /// Wall-clock seconds of the timed batches.
    pub seconds: f64,
}

/// Times a ResNet of shape `config` with random weights on `device`: one warm-up batch, then
/// `batches` batches of `batch` images of `input_size x input_size`.
pub fn bench_resnet<B: Backend>(
    config: &ResNetConfig,
    batch: usize,
    input_size: usize,
    batches: usize,
    device: &B::Device,
) -> Result<BenchReport> {
    if batch == 0 || batches == 0 || input_size == 0 {
        return Err(CnnError::Input(
            "batch, batches and input size must be positive".into(),
        ));
    }
    let model = ResNet::<B>::from_state_dict(*config, &StateDict::random(config, 0), device)?;
    let images = bench_images(batch, input_size);
    let size = [input_size, input_size];
    model.features(&images, batch, size, device)?;
    let start = Instant::now();
    for _ in 0..batches {
        model.features(&images, batch, size, device)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchReport {
        frames_per_second: (batch * batches) as f64 / seconds,
        batch,
        batches,
        input_size,
        seconds,
    })
}

/// Times ResNet-152 at 224 x 224 with batches of `batch` ([`BENCH_BATCH`] to compare with
/// torchvision) on `device`.
pub fn bench_resnet152(device: CnnDevice, batch: usize, batches: usize) -> Result<BenchReport> {
    let config = ResNetConfig::resnet152();
    match device {
        CnnDevice::Cpu => {
            bench_resnet::<CpuBackend>(&config, batch, 224, batches, &Default::default())
        }
        CnnDevice::Cuda => bench_cuda(&config, batch, batches),
    }
}

#[cfg(feature = "cuda")]
fn bench_cuda(config: &ResNetConfig, batch: usize, batches: usize) -> Result<BenchReport> {
    bench_resnet::<burn::backend::Cuda>(config, batch, 224, batches, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn bench_cuda(_config: &ResNetConfig, _batch: usize, _batches: usize) -> Result<BenchReport> {
    Err(crate::encoder::cuda_missing())
}

/// Deterministic image-like values in about [-2, 2].
fn bench_images(batch: usize, size: usize) -> Vec<f32> {
    (0..batch * 3 * size * size)
        .map(|i| 2.0 * ((i as f32) * 0.618_034).sin())
        .collect()
}
