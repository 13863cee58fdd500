//! Image encoders for frame features, behind `dualenc_video::FrameEncoder`.
//!
//! - [`resnet`]: torchvision's bottleneck ResNet (ResNet-50/101/152, v1.5) in Burn, eval
//!   mode, up to its pooled feature (2048-d), generic over the backend (the CPU's Flex, CUDA
//!   with the `cuda` feature); BatchNorm is folded into the convolutions when loading.
//! - [`weights`]: state dicts from torchvision's `.pth` files (read with `dualenc-pickle`,
//!   no Python) or safetensors files with the same names, checked name by name and shape by
//!   shape against a [`ResNetConfig`], which can be read off the file.
//! - [`encoder`]: [`ResNetEncoder`] and the device choice; [`onnx`]: [`OnnxEncoder`], any
//!   ONNX image model on the CPU through tract; [`bench`]: timing ResNet-152 as
//!   `scripts/cnn/bench_torchvision.py` times torchvision's.
//!
//! Note (the specification, section 10): the original Dual Encoding features came from MXNet's
//! ResNet-152, whose weights differ from torchvision's; a model trained on one extractor's
//! features needs features from that extractor.
//!
//! ```no_run
//! use dualenc_cnn::{open_resnet_encoder, CnnDevice};
//! use dualenc_video::FrameEncoder;
//! let mut enc = open_resnet_encoder(
//!     "resnet152-394f9c45.pth".as_ref(), None, CnnDevice::Cpu, 224)?;
//! let features = enc.encode(&vec![0.0; 3 * 224 * 224], 1)?;
//! assert_eq!(features.len(), 2048);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod config;
pub mod encoder;
pub mod error;
pub mod onnx;
pub mod resnet;
pub mod weights;

pub use bench::{bench_resnet, bench_resnet152, BenchReport, BENCH_BATCH};
pub use config::{ResNetConfig, TensorSpec, BN_EPS, EXPANSION};
pub use encoder::{
    open_resnet_encoder, CnnDevice, CpuBackend, ResNetEncoder, CUDA_BUILT, DEFAULT_INPUT_SIZE,
};
pub use error::{CnnError, Result};
pub use onnx::OnnxEncoder;
pub use resnet::ResNet;
pub use weights::{StateDict, Weight};
