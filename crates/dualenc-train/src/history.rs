//! Per-epoch records and the run's log files: `metrics.jsonl` (one JSON object per epoch)
//! and `val_metric_hist.txt` (`epoch_E: SCORE` lines, as the original writes them).
//!
//! Both files are rewritten whole from the history kept in the checkpoint (atomically), so a
//! run killed and resumed never lists an epoch twice.

use std::io::Write;
use std::path::Path;

use dualenc_eval::{DirectionMetrics, RetrievalMetrics};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::schedule::EpochOutcome;

/// File name of the JSON-lines log.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the original's validation history.
pub const VAL_HIST_FILE: &str = "val_metric_hist.txt";
/// File name of the original's final summary line.
pub const VAL_BEST_FILE: &str = "val_metric.txt";

/// One direction's validation metrics (recalls in percent, mAP in [0, 1]).
pub type DirectionScores = DirectionMetrics;

/// Validation metrics of both directions: the metrics of `dualenc test`.
pub type ValScores = RetrievalMetrics;

/// Everything logged about one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The schedule's decision (epoch, score, rates, best / halved / stop flags).
    #[serde(flatten)]
    pub outcome: EpochOutcome,
    /// Training steps (batches) this epoch.
    pub steps: usize,
    /// Mean training loss over the epoch's samples (each batch weighted by its size, as the
    /// original reports it).
    pub mean_loss: f64,
    /// Validation metrics.
    pub val: ValScores,
    /// Seconds spent training.
    pub train_s: f64,
    /// Seconds spent validating.
    pub val_s: f64,
}

/// Rewrites `metrics.jsonl` and `val_metric_hist.txt` in `dir` from `history`.
pub fn write_logs(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut jsonl = Vec::new();
    let mut hist = String::new();
    for record in history {
        let line = serde_json::to_string(record).map_err(|e| TrainError::Format {
            path: dir.join(METRICS_FILE),
            message: e.to_string(),
        })?;
        jsonl.extend_from_slice(line.as_bytes());
        jsonl.push(b'\n');
        hist.push_str(&hist_line(record));
    }
    write_file(&dir.join(METRICS_FILE), &jsonl)?;
    write_file(&dir.join(VAL_HIST_FILE), hist.as_bytes())
}

/// `epoch_E: SCORE` with six decimals, as the original's `'epoch_%d: %f\n'`.
pub fn hist_line(record: &EpochRecord) -> String {
    format!(
        "epoch_{}: {:.6}\n",
        record.outcome.epoch, record.outcome.score
    )
}

/// Writes `val_metric.txt` as the original: `best performance on validation: SCORE`.
pub fn write_best(dir: &Path, best: f64) -> Result<()> {
    let text = format!("best performance on validation: {}", python_float(best));
    write_file(&dir.join(VAL_BEST_FILE), text.as_bytes())
}

/// Python's `str(float)` for the values a score takes (shortest round-trip, with `.0` for
/// integral values).
fn python_float(x: f64) -> String {
    let text = format!("{x}");
    if x.is_finite() && !text.contains('.') && !text.contains('e') {
        format!("{text}.0")
    } else {
        text
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    dualenc_data::atomic::write_atomic(path, |w| w.write_all(bytes))
        .map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, score: f64) -> EpochRecord {
        let d = DirectionScores {
            r1: 1.0,
            r5: 2.0,
            r10: 3.0,
            medr: 4.0,
            meanr: 5.5,
            map: 0.5,
        };
        EpochRecord {
            outcome: EpochOutcome {
                epoch,
                score,
                lr: 1e-4,
                next_lr: 0.99e-4,
                is_best: true,
                halved: false,
                early_stop: false,
            },
            steps: 3,
            mean_loss: 1.5,
            val: ValScores {
                t2v: d,
                v2t: d,
                sumr: 12.0,
            },
            train_s: 0.1,
            val_s: 0.2,
        }
    }

    #[test]
    fn logs_are_rewritten_from_the_history() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(dir.path(), &[record(0, 108.8), record(1, 239.6)]).unwrap();
        let hist = std::fs::read_to_string(dir.path().join(VAL_HIST_FILE)).unwrap();
        assert_eq!(hist, "epoch_0: 108.800000\nepoch_1: 239.600000\n");
        let jsonl = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: EpochRecord = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, record(1, 239.6));
        write_logs(dir.path(), &[record(0, 108.8)]).unwrap();
        let jsonl = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        assert_eq!(jsonl.lines().count(), 1);
    }

    #[test]
    fn best_line_prints_like_python() {
        let dir = tempfile::tempdir().unwrap();
        write_best(dir.path(), 593.0).unwrap();
        let text = std::fs::read_to_string(dir.path().join(VAL_BEST_FILE)).unwrap();
        assert_eq!(text, "best performance on validation: 593.0");
        assert_eq!(python_float(593.2), "593.2");
    }
}
