//! A step-by-step record of a training run, for comparing it with another run (the
//! original's, recorded by `scripts/reference/trace_original.py`) or with itself.
//!
//! The file holds JSON lines: one `{"kind": "step", ...}` per training step ([`StepRecord`]
//! plus the BatchNorm running statistics after the step) and one `{"kind": "epoch", ...}`
//! per epoch (its [`EpochRecord`]). It is rewritten whole and atomically after every epoch,
//! so an interrupted run leaves the trace of its finished epochs.

use std::io::Write;
use std::path::PathBuf;

use dualenc_model::mapping::BatchNorm;
use dualenc_model::named::tensor_to_vec;
use dualenc_model::{DualEncoding, TrainBackend};
use serde::Serialize;

use crate::error::{Result, TrainError};
use crate::history::EpochRecord;
use crate::trainer::{StepRecord, TrainObserver};

/// BatchNorm running statistics of both mappings after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchNormStats {
    /// Video mapping `running_mean`.
    pub video_running_mean: Vec<f32>,
    /// Video mapping `running_var`.
    pub video_running_var: Vec<f32>,
    /// Text mapping `running_mean`.
    pub text_running_mean: Vec<f32>,
    /// Text mapping `running_var`.
    pub text_running_var: Vec<f32>,
}

impl BatchNormStats {
    /// The statistics held by `model`.
    pub fn of<B: TrainBackend>(model: &DualEncoding<B>) -> Result<Self> {
        let read = |bn: &BatchNorm<B>| -> Result<(Vec<f32>, Vec<f32>)> {
            Ok((
                tensor_to_vec(bn.running_mean.clone())?,
                tensor_to_vec(bn.running_var.clone())?,
            ))
        };
        let (video_running_mean, video_running_var) = read(&model.video.visual_mapping.bn_1)?;
        let (text_running_mean, text_running_var) = read(&model.text.text_mapping.bn_1)?;
        Ok(Self {
            video_running_mean,
            video_running_var,
            text_running_mean,
            text_running_var,
        })
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum TraceLine<'a> {
    Step {
        #[serde(flatten)]
        record: &'a StepRecord,
        bn: BatchNormStats,
    },
    Epoch {
        #[serde(flatten)]
        record: &'a EpochRecord,
    },
}

/// Writes the trace of a run to a JSON-lines file (see the module documentation).
pub struct TraceWriter {
    path: PathBuf,
    lines: Vec<u8>,
}

impl TraceWriter {
    /// A writer for `path` (written after the first epoch).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lines: Vec::new(),
        }
    }

    fn push(&mut self, line: &TraceLine<'_>) -> Result<()> {
        serde_json::to_writer(&mut self.lines, line).map_err(|e| TrainError::Format {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        self.lines.push(b'\n');
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        dualenc_data::atomic::write_atomic(&self.path, |w| w.write_all(&self.lines))
            .map_err(|e| TrainError::io(&self.path, e))
    }
}

impl<B: TrainBackend> TrainObserver<B> for TraceWriter {
    fn step(&mut self, record: &StepRecord, model: &DualEncoding<B>) -> Result<()> {
        let bn = BatchNormStats::of(model)?;
        self.push(&TraceLine::Step { record, bn })
    }

    fn epoch(&mut self, record: &EpochRecord, _model: &DualEncoding<B>) -> Result<()> {
        self.push(&TraceLine::Epoch { record })?;
        self.flush()
    }
}
