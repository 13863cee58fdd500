//! Errors of the inference crate: every message names the file, caption, video or key
//! concerned and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong while importing, loading, encoding, testing or predicting.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A data file of the collection could not be read or parsed.
    #[error(transparent)]
    Data(#[from] dualenc_data::DataError),
    /// The network rejected its configuration, weights or a batch.
    #[error(transparent)]
    Model(#[from] dualenc_model::ModelError),
    /// A torch checkpoint could not be read.
    #[error(transparent)]
    Torch(#[from] dualenc_pickle::TorchError),
    /// A vocabulary could not be loaded.
    #[error("vocabulary {path}: {message}")]
    Vocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The checkpoint reads but is not what a Dual Encoding checkpoint holds.
    #[error("{path}: not a Dual Encoding checkpoint: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was expected and found.
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
    /// A video id asked for is not in video2frames.
    #[error("video {video_id} is not in {source_file}")]
    UnknownVideo {
        /// The video id.
        video_id: String,
        /// The video2frames file searched.
        source_file: PathBuf,
    },
    /// The inputs do not fit together (sizes, counts, options).
    #[error("{0}")]
    Invalid(String),
    /// Evaluation failed (metrics, AVS files, infAP).
    #[error("{0}")]
    Eval(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The requested device is not available in this build.
    #[error("{0}")]
    Device(String),
}

impl InferError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InferError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = InferError> = std::result::Result<T, E>;
