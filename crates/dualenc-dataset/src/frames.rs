//! The frame features of one video.

use crate::error::{DatasetError, Result};

/// The frame features of one video: `frames x dim`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrames {
    data: Vec<f32>,
    dim: usize,
}

impl VideoFrames {
    /// Wraps `data` as frames of `dim` values; at least one frame, no partial frame.
    pub fn new(data: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || data.is_empty() || !data.len().is_multiple_of(dim) {
            return Err(DatasetError::Batch(format!(
                "a video needs at least one frame of {dim} values, got {} values",
                data.len()
            )));
        }
        Ok(Self { data, dim })
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// All frames, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}
