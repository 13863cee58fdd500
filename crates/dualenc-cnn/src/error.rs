//! The errors of this crate.

use std::path::PathBuf;

/// What went wrong loading or running an image encoder.
#[derive(Debug, thiserror::Error)]
pub enum CnnError {
    /// A weights or model file could not be read, or it is not what it should be; the
    /// inner error says why.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        source: Box<CnnError>,
    },
    /// Reading a file failed.
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    /// A `torch.save` file could not be read.
    #[error(transparent)]
    Torch(#[from] dualenc_pickle::TorchError),
    /// A safetensors file could not be parsed.
    #[error("not a valid safetensors file: {0}")]
    Safetensors(String),
    /// The file holds something other than a state dict of tensors.
    #[error("not a state dict: {0}")]
    NotStateDict(String),
    /// The same tensor name appears twice.
    #[error("tensor `{0}` appears twice")]
    DuplicateTensor(String),
    /// A tensor is not floating point.
    #[error("tensor `{name}` is {dtype}, expected floating point")]
    NotFloat {
        /// The tensor.
        name: String,
        /// Its element type in the file.
        dtype: String,
    },
    /// A tensor holds NaN or an infinity (or an f64 beyond the f32 range).
    #[error("tensor `{name}` holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        /// The tensor.
        name: String,
        /// Index of the first bad element, row-major.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A BatchNorm running variance is negative.
    #[error("tensor `{name}` holds a negative variance ({value}) at index {index}")]
    NegativeVariance {
        /// The tensor.
        name: String,
        /// Index of the first negative element.
        index: usize,
        /// The value found there.
        value: f32,
    },
    /// Tensors the architecture needs are absent.
    #[error("missing tensor(s): {}", name_list(.0))]
    MissingTensors(Vec<String>),
    /// Tensors that are not part of the architecture (nor ignored: `fc.*`,
    /// `*.num_batches_tracked`).
    #[error("unexpected tensor(s): {}", name_list(.0))]
    UnexpectedTensors(Vec<String>),
    /// A tensor's shape differs from the architecture's.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The tensor.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The weights or configuration describe a network this crate does not build.
    #[error("unsupported architecture: {0}")]
    Architecture(String),
    /// The images given to an encoder do not fit its input.
    #[error("bad input: {0}")]
    Input(String),
    /// An ONNX model could not be loaded or run.
    #[error("ONNX: {0}")]
    Onnx(String),
    /// The requested compute device is not available.
    #[error("device: {0}")]
    Device(String),
}

impl CnnError {
    /// Wraps `self` with the file it concerns.
    pub fn in_file(self, path: impl Into<PathBuf>) -> CnnError {
        CnnError::File {
            path: path.into(),
            source: Box::new(self),
        }
    }
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, CnnError>;

/// At most the first eight names, back-quoted, with a count of the rest.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_name_lists_are_cut_with_a_count() {
        let names: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let msg = CnnError::MissingTensors(names).to_string();
        assert!(msg.starts_with("missing tensor(s): `t0`, `t1`"), "{msg}");
        assert!(msg.ends_with("`t7` and 2 more"), "{msg}");
    }
}
