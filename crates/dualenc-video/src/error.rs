//! The one error type of extraction.
//!
//! Every variant names the file (or video) it concerns and what was expected, so that a
//! user can tell a broken video from a missing tool or a wrong option without reading code.

use std::path::PathBuf;

use crate::encoder::EncodeError;

/// Why probing, decoding or extracting failed.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// `ffmpeg` or `ffprobe` is not on `PATH`.
    #[error("`{program}` not found on PATH; install Debian's ffmpeg package (apt-get install ffmpeg), which provides ffmpeg and ffprobe")]
    FfmpegMissing {
        /// The program looked for.
        program: &'static str,
    },

    /// A program could not be started or waited for.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program's path.
        program: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// `ffprobe` could not read the file (not a video, unreadable, unknown format).
    #[error("{path}: ffprobe cannot read it as a video: {message}")]
    Probe {
        /// The video file.
        path: PathBuf,
        /// ffprobe's exit status and first lines of its error output, or what its JSON lacked.
        message: String,
    },

    /// The file holds no video stream (audio only, subtitles...).
    #[error("{path}: no video stream")]
    NoVideoStream {
        /// The file.
        path: PathBuf,
    },

    /// The probed frame size is zero or beyond what extraction accepts.
    #[error("{path}: frame size {width}x{height} refused (each side must be 1 to {max} pixels)")]
    BadDimensions {
        /// The video file.
        path: PathBuf,
        /// Probed width (after rotation).
        width: u64,
        /// Probed height (after rotation).
        height: u64,
        /// The largest side accepted.
        max: u64,
    },

    /// `ffmpeg` failed while decoding.
    #[error("{path}: ffmpeg cannot decode it: {message}")]
    Decode {
        /// The video file.
        path: PathBuf,
        /// ffmpeg's exit status and first lines of its error output.
        message: String,
    },

    /// The decoded stream ended in the middle of a frame.
    #[error("{path}: decoded stream ended inside frame {frame} ({got} of {expected} bytes)")]
    TruncatedFrame {
        /// The video file.
        path: PathBuf,
        /// The frame number (0-based, decode order).
        frame: u64,
        /// Bytes received for that frame.
        got: usize,
        /// Bytes of a whole RGB24 frame.
        expected: usize,
    },

    /// ffmpeg decoded the file without error but produced no frame.
    #[error("{path}: no frame could be decoded{}", stderr_suffix(.stderr))]
    NoFrames {
        /// The video file.
        path: PathBuf,
        /// ffmpeg's error output, if any.
        stderr: String,
    },

    /// `ffmpeg` could not write a thumbnail.
    #[error("{path}: cannot make the thumbnail {target}: {message}")]
    Thumbnail {
        /// The video file.
        path: PathBuf,
        /// The thumbnail being written.
        target: PathBuf,
        /// ffmpeg's exit status and first lines of its error output.
        message: String,
    },

    /// A file or folder could not be read, written or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// Writing or reading the VisualSearch files failed.
    #[error(transparent)]
    Data(#[from] dualenc_data::DataError),

    /// The list of inputs is neither a folder, a video file nor a readable list of paths.
    #[error("{path}: {message}")]
    Input {
        /// The argument or list file.
        path: PathBuf,
        /// What was expected.
        message: String,
    },

    /// Two inputs have the same file stem, hence the same video id.
    #[error("video id {id:?} is given twice: {first} and {second}; video ids are file stems and must be unique")]
    DuplicateVideo {
        /// The shared stem.
        id: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },

    /// A file stem cannot serve as a video id.
    #[error("{path}: the file name cannot be a video id ({reason}); rename the file")]
    InvalidVideoId {
        /// The video file.
        path: PathBuf,
        /// What is wrong with its stem.
        reason: &'static str,
    },

    /// The feature folder is already finished and `overwrite` was not asked for.
    #[error("{dir}: features already extracted; pass --overwrite to extract again")]
    AlreadyExtracted {
        /// The feature folder.
        dir: PathBuf,
    },

    /// The parts of an interrupted run were made with other settings.
    #[error("{dir}: the parts of an earlier run were made with other settings ({found}, now {expected}); pass --overwrite to start again")]
    PartsMismatch {
        /// The parts folder.
        dir: PathBuf,
        /// The settings of this run, as JSON.
        expected: String,
        /// The settings recorded by the earlier run.
        found: String,
    },

    /// A part file of an earlier run is damaged.
    #[error("{path}: damaged part file ({message}); delete it to extract that video again")]
    BadPart {
        /// The part file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// The encoder failed; the run stops (the videos finished so far are kept as parts).
    #[error("encoding the frames of {video} failed: {source}")]
    Encode {
        /// The video being encoded.
        video: String,
        /// The encoder's error.
        source: EncodeError,
    },

    /// The encoder returned something other than `n x dim` finite values.
    #[error("encoding the frames of {video}: {message}")]
    EncoderOutput {
        /// The video being encoded.
        video: String,
        /// What was wrong with the output.
        message: String,
    },

    /// Every video failed, so there is nothing to write.
    #[error("no video could be extracted ({failed} failed); first failure: {first}")]
    NothingExtracted {
        /// Number of failed videos.
        failed: usize,
        /// The first failure's message.
        first: String,
    },

    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

/// `": STDERR"` when ffmpeg said something, else nothing.
fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl VideoError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VideoError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result of this crate.
pub type Result<T, E = VideoError> = std::result::Result<T, E>;
