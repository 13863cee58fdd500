//! From video files to frame features.
//!
//! `dualenc-video` turns a folder of video files into a VisualSearch collection: it decodes
//! through the `ffmpeg` program, keeps the frames the original extractor kept (two a second,
//! ids `VIDEO_k` with the source frame number), resizes and crops them as that extractor did,
//! hands batches of images to a [`FrameEncoder`] (a CNN; `dualenc-cnn` has ResNet-152 in Burn
//! and any ONNX model) and writes `FeatureData`, `ImageSets` and thumbnails, resumably.
//! No Burn here: the encoder is a trait.

mod encoder;

pub use encoder::{EncodeError, FrameEncoder};
