//! Every option of a training run, with the paper's defaults.

use dualenc_model::triplet_loss::Direction;
use dualenc_model::{ModelConfig, OptimConfig, Precision, TripletLossConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::history::ValScores;
use crate::schedule::ScheduleConfig;

/// The validation criterion that picks the best epoch (`--val_metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ValMetric {
    /// R@1 + R@5 + R@10 of the directions the loss trains.
    #[default]
    Recall,
    /// Mean average precision of the directions the loss trains.
    Map,
}

impl ValMetric {
    /// The score of `val` as the original's `validate` sums it: video-to-text, then
    /// text-to-video, each only when the loss direction includes it.
    pub fn score(self, val: &ValScores, direction: Direction) -> f64 {
        let pick = |d: &crate::history::DirectionScores| match self {
            ValMetric::Recall => d.r1 + d.r5 + d.r10,
            ValMetric::Map => d.map,
        };
        let mut score = 0.0;
        if direction != Direction::T2v {
            score += pick(&val.v2t);
        }
        if direction != Direction::V2t {
            score += pick(&val.t2v);
        }
        score
    }
}

/// Options of a training run (model sizes, loss, optimiser, schedule and batching).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Network sizes (mapping inputs resolved).
    pub model: ModelConfig,
    /// Triplet loss options.
    pub loss: TripletLossConfig,
    /// Adam and gradient clipping; its learning rate is the schedule's initial one.
    pub optim: OptimConfig,
    /// Learning-rate schedule and early stopping.
    pub schedule: ScheduleConfig,
    /// Pairs per training batch.
    pub batch_size: usize,
    /// Captions per validation batch (128 in the original; embeddings depend on it).
    pub val_batch_size: usize,
    /// Validation criterion.
    pub val_metric: ValMetric,
    /// Seed of the initial weights, the epoch shuffles and dropout.
    pub seed: u64,
    /// Batches collated ahead of the network by the background loader.
    pub prefetch: usize,
    /// Precision of the training steps' large matrix products (validation runs in f32).
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ModelConfig::default(),
            loss: TripletLossConfig::default(),
            optim: OptimConfig::default(),
            schedule: ScheduleConfig::default(),
            batch_size: 128,
            val_batch_size: 128,
            val_metric: ValMetric::Recall,
            seed: 0,
            prefetch: 4,
            precision: Precision::F32,
        }
    }
}

impl TrainConfig {
    /// Checks the options that the model crate does not check itself.
    pub fn validate(&self) -> Result<()> {
        let checks = [
            (
                self.batch_size < 2,
                "batch size must be at least 2 (BatchNorm needs two rows)",
            ),
            (
                self.val_batch_size == 0,
                "validation batch size must be at least 1",
            ),
            (
                self.schedule.num_epochs == 0,
                "number of epochs must be at least 1",
            ),
            (
                !positive(self.schedule.learning_rate),
                "learning rate must be positive",
            ),
            (
                !positive(self.schedule.lr_decay_rate),
                "learning-rate decay must be positive",
            ),
            (
                !non_negative(self.optim.grad_clip),
                "gradient clip must be 0 (off) or positive",
            ),
            (
                !non_negative(self.loss.margin),
                "margin must not be negative",
            ),
        ];
        if let Some((_, message)) = checks.iter().find(|(bad, _)| *bad) {
            return Err(TrainError::Config((*message).to_string()));
        }
        Ok(self.model.validate()?)
    }

    /// The names of the options in which `self` and `other` differ (dotted JSON paths),
    /// ignoring the number of epochs, which a resumed run may change.
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let strip = |c: &TrainConfig| {
            let mut c = c.clone();
            c.schedule.num_epochs = 0;
            serde_json::to_value(c).unwrap_or_default()
        };
        let mut out = Vec::new();
        diff_values("", &strip(self), &strip(other), &mut out);
        out
    }
}

/// `x > 0` and not NaN.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// `x >= 0` and not NaN.
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (key, value) in x {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff_values(
                    &child,
                    value,
                    y.get(key).unwrap_or(&serde_json::Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path} ({a} vs {b})")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = TrainConfig::default();
        assert_eq!(c.batch_size, 128);
        assert_eq!(c.optim.learning_rate, 1e-4);
        assert_eq!(c.optim.grad_clip, 2.0);
        assert_eq!(c.schedule.lr_decay_rate, 0.99);
        assert_eq!(c.schedule.num_epochs, 50);
        assert!(c.loss.max_violation);
        assert_eq!(c.loss.margin, 0.2);
        assert_eq!(c.model.dropout, 0.2);
    }

    #[test]
    fn differences_name_the_option_and_ignore_the_epoch_count() {
        let a = TrainConfig::default();
        let mut b = a.clone();
        b.schedule.num_epochs = 3;
        assert!(a.differences(&b).is_empty());
        b.model.word_dim = 7;
        let diffs = a.differences(&b);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].starts_with("model.word_dim"), "{diffs:?}");
    }

    #[test]
    fn the_score_follows_the_direction_and_metric() {
        let d = crate::history::DirectionScores {
            r1: 1.0,
            r5: 2.0,
            r10: 3.0,
            medr: 1.0,
            meanr: 1.0,
            map: 0.25,
        };
        let mut val = ValScores {
            t2v: d,
            v2t: d,
            sumr: 12.0,
        };
        val.v2t.r1 = 10.0;
        assert_eq!(ValMetric::Recall.score(&val, Direction::All), 21.0);
        assert_eq!(ValMetric::Recall.score(&val, Direction::T2v), 6.0);
        assert_eq!(ValMetric::Map.score(&val, Direction::V2t), 0.25);
    }

    #[test]
    fn a_batch_of_one_is_refused() {
        let c = TrainConfig {
            batch_size: 1,
            ..TrainConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("batch size"));
    }
}
