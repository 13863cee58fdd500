//! From video files to frame features.
//!
//! `dualenc-video` turns a folder of video files into a VisualSearch collection: it decodes
//! through the `ffmpeg` program, keeps the frames the original extractor kept (two a second,
//! ids `VIDEO_k` with the source frame number), resizes and crops them as that extractor did,
//! hands batches of images to a [`FrameEncoder`] (a CNN; `dualenc-cnn` has ResNet-152 in Burn
//! and any ONNX model) and writes `FeatureData`, `ImageSets` and thumbnails, resumably.
//! No Burn here: the encoder is a trait.
//!
//! - [`ffmpeg`]: finding `ffmpeg`/`ffprobe`, probing, thumbnails; [`decode`]: raw frames.
//! - [`sampling`]: which frames are kept; [`preprocess`]: resize, crops, normalisation.
//! - [`input`]: the list of videos; [`extract`]: the whole run, resumable through
//!   per-video part files.

#![warn(missing_docs)]

pub mod decode;
mod encoder;
pub mod error;
pub mod extract;
pub mod ffmpeg;
pub mod input;
mod parts;
pub mod preprocess;
pub mod sampling;

pub use decode::{Frame, FrameDecoder};
pub use encoder::{EncodeError, FrameEncoder};
pub use error::{Result, VideoError};
pub use extract::{
    extract_collection, ExtractEvent, ExtractOptions, ExtractReport, VideoReport, VideoStatus,
    DEFAULT_BATCH_IMAGES,
};
pub use ffmpeg::{Ffmpeg, VideoInfo};
pub use input::VideoInput;
pub use parts::PARTS_DIR;
pub use preprocess::{Crops, Normalization, Preprocessor, ResizeMode, RgbImage};
pub use sampling::FrameSampler;
