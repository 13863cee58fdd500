//! Errors of the dataset crate: every message names the file, caption, video or frame
//! concerned and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong while reading a collection for the network or batching it.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A data file of the collection could not be read or parsed.
    #[error(transparent)]
    Data(#[from] dualenc_data::DataError),
    /// A vocabulary could not be loaded.
    #[error("vocabulary {path}: {message}")]
    Vocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A caption's video has no entry in video2frames.
    #[error("caption {caption_id}: its video {video_id} has no frames in {source_file}")]
    VideoWithoutFrames {
        /// The caption id.
        caption_id: String,
        /// The video id derived from it.
        video_id: String,
        /// The video2frames file searched.
        source_file: PathBuf,
    },
    /// A frame listed in video2frames is not a row of the BigFile.
    #[error("video {video_id}: frame {frame_id} is not in the BigFile {bigfile}")]
    MissingFrame {
        /// The video id.
        video_id: String,
        /// The missing frame id.
        frame_id: String,
        /// The feature folder.
        bigfile: PathBuf,
    },
    /// A frame's features hold NaN or infinity (which would poison training silently and
    /// make rankings meaningless).
    #[error(
        "video {video_id}: frame {frame_id} of the BigFile {bigfile} holds NaN or infinity; \
         fix or drop the frame (`dualenc check` lists every such row)"
    )]
    NonFiniteFrame {
        /// The video id.
        video_id: String,
        /// The frame id.
        frame_id: String,
        /// The feature folder.
        bigfile: PathBuf,
    },
    /// A video id asked for is not in video2frames.
    #[error("video {video_id} is not in {source_file}")]
    UnknownVideo {
        /// The video id.
        video_id: String,
        /// The video2frames file searched.
        source_file: PathBuf,
    },
    /// Input data for a batch is malformed (empty batch, ragged frames, bad ids...).
    #[error("invalid batch: {0}")]
    Batch(String),
    /// The inputs do not fit together (sizes, counts).
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl DatasetError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
