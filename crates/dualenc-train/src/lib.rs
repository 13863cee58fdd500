//! Training the Dual Encoding network as the original `trainer.py` does, resumably.
//!
//! - [`schedule`]: the epoch schedule (lr decay, halving, early stop, best epoch) as a pure
//!   state machine.
//! - [`loader`]: one sample per caption, seeded shuffles, batches collated on a background
//!   thread.
//! - [`trainer`]: the loop (train, validate, keep the best model, checkpoint every epoch).
//! - [`pipeline`]: a training request run on the chosen device, and the test of its model.
//! - [`all`]: vocabulary, frame info, training and test in one go (`do_all.sh`).
//! - [`demo`]: the demo's presets, and its run from synthetic data to example searches.
//! - [`checkpoint`]: the resumable state on disk, written atomically.
//! - [`history`]: per-epoch records, `metrics.jsonl` and `val_metric_hist.txt`.
//! - [`trace`]: a step-by-step record of a run (JSON lines), to compare runs.
//! - [`seeds`]: one configuration trained and tested over several seeds, summarised.
//! - [`speed`]: timed training steps and encodings on random inputs (`dualenc bench`).
//! - [`validate`]: validation as the original (pair batches of 128, R@K or mAP).
//! - [`data`]: the collections of a run, checked before training starts.
//! - [`config`]: every option with the paper's defaults.

pub mod all;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod demo;
pub mod error;
pub mod history;
pub mod loader;
pub mod pipeline;
pub mod schedule;
pub mod seeds;
pub mod speed;
pub mod trace;
pub mod trainer;
pub mod validate;

pub use config::{TrainConfig, ValMetric};
pub use error::{Result, TrainError};
pub use history::{DirectionScores, EpochRecord, ValScores};
pub use loader::SampleOrder;
pub use schedule::{EpochOutcome, Schedule, ScheduleConfig};
pub use trainer::{
    train, train_observed, NoObserver, Observers, Quiet, RunOptions, StepRecord, TrainInputs,
    TrainObserver, TrainProgress, TrainSummary, Validator,
};
pub use validate::PairValidator;
