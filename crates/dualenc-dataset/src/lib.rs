//! A collection as the Dual Encoding network sees it, shared by training and inference.
//!
//! - [`captions`]: captions as RNN ids (with `<start>`/`<end>`) and sparse bags of words.
//! - [`frames`], [`videos`]: a video's frame features; the videos of a collection, read on
//!   demand from its memory-mapped BigFile through video2frames, or held in memory.
//! - [`pairs`]: caption-video pairs (one sample per caption), as training, validation and
//!   testing read them.
//! - [`vocab`]: a model's BoW and RNN vocabularies and the caption encoding they define.
//! - [`collate`]: padded batches exactly as the original's collate functions build them.
//!
//! No Burn here: the network crate moves batches to a device.

pub mod captions;
pub mod collate;
pub mod error;
pub mod frames;
pub mod pairs;
pub mod videos;
pub mod vocab;

pub use captions::{CaptionInput, CaptionSet, CaptionTokens};
pub use collate::{
    collate_captions, collate_pairs, collate_videos, PairBatch, TextBatch, VideoBatch,
    VIDEO_MAX_LEN,
};
pub use error::{DatasetError, Result};
pub use frames::VideoFrames;
pub use pairs::{load_pair_data, PairData};
pub use videos::{read_video2frames, BigFileVideos, InMemoryVideos, VideoSource};
pub use vocab::{load_vocabulary, model_vocab_path, ModelVocab, VOCAB_DIR};
