//! The one error type of the data layer.
//!
//! Every variant names the file it concerns and, where it applies, the 1-based line (or the
//! id) and what was expected, so that a user can fix a broken download or a hand-made file
//! without reading the code.

use std::path::PathBuf;

/// Why reading or writing a VisualSearch file failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be opened, read, written or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A required file does not exist.
    #[error("{path}: file not found ({what})")]
    Missing {
        /// The file that should exist.
        path: PathBuf,
        /// What the file is for, e.g. "BigFile shape N D".
        what: &'static str,
    },

    /// `shape.txt` does not hold two non-negative integers `N D` on its first line.
    #[error("{path}: line 1: expected two integers \"N D\", found {found:?}")]
    BadShape {
        /// The shape file.
        path: PathBuf,
        /// The first line as read.
        found: String,
    },

    /// `id.txt` lists a different number of ids than `shape.txt` announces.
    #[error("{path}: holds {found} ids but shape.txt announces N = {expected}")]
    IdCount {
        /// The id file.
        path: PathBuf,
        /// N from shape.txt.
        expected: usize,
        /// Ids actually found.
        found: usize,
    },

    /// `feature.bin` is not N x D x 4 bytes long (a truncated download, most often).
    #[error(
        "{path}: {actual} bytes, expected {expected} (N {rows} x D {dim} x 4); {}",
        describe_size_gap(*expected, *actual, *dim)
    )]
    FeatureSize {
        /// The feature file.
        path: PathBuf,
        /// N x D x 4.
        expected: u64,
        /// The size on disk.
        actual: u64,
        /// N from shape.txt.
        rows: usize,
        /// D from shape.txt.
        dim: usize,
    },

    /// A vector handed to a writer, or read from a text file, has the wrong length.
    #[error("{path}: id {id:?}: vector of {found} values, expected {expected}")]
    WrongDim {
        /// The file being written or read.
        path: PathBuf,
        /// The id of the offending row.
        id: String,
        /// The dimension of the file.
        expected: usize,
        /// The length received.
        found: usize,
    },

    /// An id is empty or contains white space, so it cannot be stored in a
    /// whitespace-separated id file.
    #[error("{path}: invalid id {id:?}: ids must be non-empty and contain no white space")]
    InvalidId {
        /// The file being written.
        path: PathBuf,
        /// The rejected id.
        id: String,
    },

    /// A text field to be written is empty or contains a line break, so it could not be
    /// read back as one `ID text` line.
    #[error("{path}: record {id:?}: text must be non-empty and contain no line break")]
    InvalidText {
        /// The file being written.
        path: PathBuf,
        /// The id of the record.
        id: String,
    },

    /// Two feature sources that must share a dimension do not.
    #[error("{path}: feature dimension {found}, expected {expected} like the sources before it")]
    DimMismatch {
        /// The source that differs.
        path: PathBuf,
        /// The dimension of the earlier sources.
        expected: usize,
        /// This source's dimension.
        found: usize,
    },

    /// Text features hold no row, so their dimension cannot be inferred.
    #[error("{path}: no feature rows, so the dimension cannot be inferred")]
    NoRows {
        /// The (first) input file.
        path: PathBuf,
    },

    /// A row index is past the end of a BigFile.
    #[error("{path}: row {index} requested, but the file has {len} rows")]
    RowOutOfRange {
        /// The BigFile folder.
        path: PathBuf,
        /// The requested row.
        index: usize,
        /// The number of rows.
        len: usize,
    },

    /// An output buffer does not have the size the requested gather needs.
    #[error("{path}: output buffer holds {found} floats, the gather needs {expected}")]
    BufferSize {
        /// The BigFile folder.
        path: PathBuf,
        /// Floats needed.
        expected: usize,
        /// Floats provided.
        found: usize,
    },

    /// A line-oriented text file has a malformed line.
    #[error("{path}: line {line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },

    /// A structured file (dict literal, JSON) is malformed at a position.
    #[error("{path}: line {line}, column {column} (byte {byte}): {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// 0-based byte offset (0 when the parser does not report it).
        byte: usize,
        /// What was expected.
        message: String,
    },

    /// A frame id does not have the form `VIDEO_FRAMENO`.
    #[error(
        "{path}: frame id {id:?} is not of the form VIDEO_FRAMENO (an integer after the last '_')"
    )]
    BadFrameId {
        /// The file the id comes from.
        path: PathBuf,
        /// The rejected frame id.
        id: String,
    },

    /// A binary word2vec file ends in the middle of a record.
    #[error("{path}: truncated at word {index} of {count} (byte {byte}): {message}")]
    Truncated {
        /// The word-vector file.
        path: PathBuf,
        /// 0-based index of the record being read.
        index: usize,
        /// Records announced by the header.
        count: usize,
        /// Byte offset where reading stopped.
        byte: usize,
        /// What was missing.
        message: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// "short by X bytes = Y rows" (or "longer by ...") for a feature.bin size mismatch.
fn describe_size_gap(expected: u64, actual: u64, dim: usize) -> String {
    let (word, gap) = if actual < expected {
        ("short", expected - actual)
    } else {
        ("longer", actual - expected)
    };
    let row_bytes = (dim as u64).saturating_mul(4);
    if row_bytes == 0 {
        return format!("{word} by {gap} bytes");
    }
    let rows = gap / row_bytes;
    let rest = gap % row_bytes;
    if rest == 0 {
        format!("{word} by {gap} bytes = {rows} rows of {dim} floats")
    } else {
        format!("{word} by {gap} bytes = {rows} rows of {dim} floats plus {rest} bytes")
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
