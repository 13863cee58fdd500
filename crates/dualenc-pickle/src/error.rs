//! Errors of the pickle and torch readers.

use std::path::PathBuf;

/// Why a pickle could not be read. Offsets are bytes from the start of the pickle.
#[derive(Debug, thiserror::Error)]
pub enum PickleError {
    /// The input ended in the middle of an opcode or before `STOP`.
    #[error("pickle truncated at byte {offset}: expected {expected}")]
    Truncated {
        /// Where the missing bytes should have started.
        offset: usize,
        /// What was being read.
        expected: String,
    },
    /// A byte that is no pickle opcode (e.g. the input is not a pickle).
    #[error("unknown pickle opcode 0x{opcode:02x} at byte {offset}")]
    UnknownOpcode {
        /// Offset of the opcode.
        offset: usize,
        /// The byte found.
        opcode: u8,
    },
    /// An opcode this reader deliberately does not support (e.g. `EXT1`, out-of-band
    /// buffers, protocol 0 string escapes).
    #[error("unsupported pickle opcode {name} at byte {offset}")]
    Unsupported {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's pickletools name.
        name: &'static str,
    },
    /// An opcode whose operands or stack do not make sense.
    #[error("invalid pickle at byte {offset} ({opcode}): {message}")]
    Invalid {
        /// Offset of the opcode.
        offset: usize,
        /// The opcode's pickletools name.
        opcode: &'static str,
        /// What was expected.
        message: String,
    },
}

/// Why a `torch.save` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Neither a zip-format nor a legacy torch file.
    #[error("{path} is not a torch.save file: {reason}")]
    NotTorch {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The zip archive is damaged.
    #[error("{path}: bad zip archive ({entry}): {source}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// The entry being read, or `archive`.
        entry: String,
        /// The zip error.
        source: zip::result::ZipError,
    },
    /// A zip entry declares or inflates to more bytes than it may hold (see
    /// [`crate::torch::MAX_ZIP_INFLATION`]), or to other than it declares.
    #[error("{path}: zip entry {entry}: {message}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// One of the file's pickles is broken.
    #[error("{path}: {part} (starting at byte {start} of the file): {source}")]
    Pickle {
        /// The file.
        path: PathBuf,
        /// Which pickle, e.g. `data.pkl` or `legacy main pickle`.
        part: String,
        /// Offset in the file (0 for zip entries) where that pickle starts.
        start: usize,
        /// The pickle error.
        source: PickleError,
    },
    /// A tensor names a storage the file does not hold, or a storage's size differs from
    /// what the pickle says.
    #[error("{path}: storage {key:?}: {message}")]
    Storage {
        /// The file.
        path: PathBuf,
        /// The storage key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value that should be a tensor or state dict is not.
    #[error("{path}: {message}")]
    Structure {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        message: String,
    },
}
