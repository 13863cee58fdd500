//! The original trainer's epoch schedule as a small pure state machine.
//!
//! After each epoch's validation score, exactly as `trainer.py` does it:
//! `is_best = score > best` (strict; `best` starts at 0), `lr_counter += 1`, `lr *= decay`;
//! when the epoch is not the best, `no_impr += 1`, training stops once `no_impr > patience`
//! (10), and otherwise, when `lr_counter > 2` (at least three epochs at this rate), the rate is
//! halved and `lr_counter` reset; a best epoch resets `no_impr`. Epochs are counted from 0
//! here; the best epoch is reported 1-based, as the original stores it in its checkpoint.
//!
//! The state is serialisable so that an interrupted run resumes with the same rate, counters
//! and best score.

use serde::{Deserialize, Serialize};

/// Options of the schedule, with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Initial learning rate.
    pub learning_rate: f64,
    /// Factor applied to the rate after every epoch.
    pub lr_decay_rate: f64,
    /// Most epochs to train.
    pub num_epochs: usize,
    /// Training stops when more than this many epochs in a row did not improve.
    pub patience: usize,
    /// A non-improving epoch halves the rate when more than this many epochs passed since
    /// the last halving.
    pub halve_after: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            lr_decay_rate: 0.99,
            num_epochs: 50,
            patience: 10,
            halve_after: 2,
        }
    }
}

/// Where training stands between two epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    config: ScheduleConfig,
    lr: f64,
    best_score: f64,
    best_epoch: Option<usize>,
    no_impr: usize,
    lr_counter: usize,
    epochs_done: usize,
    stopped_early: bool,
}

/// What the schedule decided after one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochOutcome {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Its validation score.
    pub score: f64,
    /// Learning rate the epoch was trained with.
    pub lr: f64,
    /// Rate for the next epoch.
    pub next_lr: f64,
    /// The score beat every earlier one (strictly): the checkpoint is kept.
    pub is_best: bool,
    /// The rate was halved after this epoch.
    pub halved: bool,
    /// Training stops after this epoch because it stopped improving.
    pub early_stop: bool,
}

impl Schedule {
    /// A schedule before the first epoch.
    pub fn new(config: ScheduleConfig) -> Self {
        Self {
            lr: config.learning_rate,
            config,
            best_score: 0.0,
            best_epoch: None,
            no_impr: 0,
            lr_counter: 0,
            epochs_done: 0,
            stopped_early: false,
        }
    }

    /// The options.
    pub fn config(&self) -> &ScheduleConfig {
        &self.config
    }

    /// Changes the most epochs to train (a resumed run may train longer or shorter).
    pub fn set_num_epochs(&mut self, num_epochs: usize) {
        self.config.num_epochs = num_epochs;
    }

    /// Learning rate of the next epoch.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Best validation score so far (0 before any epoch, as in the original).
    pub fn best_score(&self) -> f64 {
        self.best_score
    }

    /// 1-based epoch of the best score, as the original stores it.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// Epochs finished so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Whether training stopped early.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// The next epoch to train (0-based), or `None` when training is over.
    pub fn next_epoch(&self) -> Option<usize> {
        (!self.stopped_early && self.epochs_done < self.config.num_epochs)
            .then_some(self.epochs_done)
    }

    /// Records the validation score of the epoch just trained and applies the rules.
    pub fn record(&mut self, score: f64) -> EpochOutcome {
        let epoch = self.epochs_done;
        let lr = self.lr;
        let is_best = score > self.best_score;
        if is_best {
            self.best_score = score;
            self.best_epoch = Some(epoch + 1);
        }
        self.lr_counter += 1;
        self.lr *= self.config.lr_decay_rate;
        let mut halved = false;
        if is_best {
            self.no_impr = 0;
        } else {
            self.no_impr += 1;
            if self.no_impr > self.config.patience {
                self.stopped_early = true;
            } else if self.lr_counter > self.config.halve_after {
                self.lr *= 0.5;
                self.lr_counter = 0;
                halved = true;
            }
        }
        self.epochs_done += 1;
        EpochOutcome {
            epoch,
            score,
            lr,
            next_lr: self.lr,
            is_best,
            halved,
            early_stop: self.stopped_early,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 0 of `fixtures/reference/training/results.json`: per epoch, the learning rate it
    /// was trained with and its validation R-sum.
    fn seed0() -> Vec<(f64, f64)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/reference/training/results.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["seeds"][0]["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["lr"].as_f64().unwrap(), e["val_rsum"].as_f64().unwrap()))
            .collect()
    }

    #[test]
    fn reproduces_the_reference_learning_rates_from_its_scores() {
        let epochs = seed0();
        let mut schedule = Schedule::new(ScheduleConfig {
            num_epochs: 30,
            ..ScheduleConfig::default()
        });
        for (epoch, &(lr, score)) in epochs.iter().enumerate() {
            assert_eq!(schedule.next_epoch(), Some(epoch));
            // The same f64 products in the same order as the original, so equal up to the
            // last bit; 1e-15 relative only allows for serde_json's default float parsing,
            // which may be one ulp off.
            let ours = schedule.learning_rate();
            assert!(
                (ours - lr).abs() <= 1e-15 * lr,
                "epoch {epoch}: {ours} vs {lr}"
            );
            schedule.record(score);
        }
        assert_eq!(schedule.next_epoch(), None);
        assert_eq!(schedule.best_epoch(), Some(26));
        assert_eq!(schedule.best_score(), 593.2);
        assert!(!schedule.stopped_early());
    }

    #[test]
    fn first_epoch_beats_the_initial_zero_and_ties_do_not_count() {
        let mut schedule = Schedule::new(ScheduleConfig::default());
        assert!(schedule.record(10.0).is_best);
        let tie = schedule.record(10.0);
        assert!(!tie.is_best);
        assert_eq!(schedule.best_epoch(), Some(1));
    }

    #[test]
    fn halves_only_after_three_epochs_at_a_rate() {
        let mut schedule = Schedule::new(ScheduleConfig {
            learning_rate: 1.0,
            lr_decay_rate: 1.0,
            ..ScheduleConfig::default()
        });
        schedule.record(5.0);
        assert!(!schedule.record(1.0).halved);
        let third = schedule.record(1.0);
        assert!(third.halved);
        assert_eq!(third.next_lr, 0.5);
        assert!(!schedule.record(1.0).halved);
        assert!(!schedule.record(1.0).halved);
        assert!(schedule.record(1.0).halved);
        assert_eq!(schedule.learning_rate(), 0.25);
    }

    #[test]
    fn stops_after_more_than_patience_epochs_without_improvement() {
        let mut schedule = Schedule::new(ScheduleConfig::default());
        schedule.record(5.0);
        for _ in 0..10 {
            assert!(!schedule.record(1.0).early_stop);
        }
        let last = schedule.record(1.0);
        assert!(last.early_stop);
        assert!(!last.halved);
        assert_eq!(schedule.next_epoch(), None);
        assert_eq!(schedule.epochs_done(), 12);
    }

    #[test]
    fn survives_a_json_round_trip() {
        let mut schedule = Schedule::new(ScheduleConfig::default());
        schedule.record(3.0);
        schedule.record(2.0);
        let text = serde_json::to_string(&schedule).unwrap();
        let back: Schedule = serde_json::from_str(&text).unwrap();
        assert_eq!(back, schedule);
    }
}
