//! Whole-run parity with the original trainer, from a trace of its run
//! (`fixtures/replay/`, made by `scripts/reference/trace_original.py`; see that folder's
//! README): 16 epochs of 8 steps (128 steps) on a collection of short videos with three
//! captions each, the last batch of every epoch holding 4 pairs, validation after every
//! epoch, dropout 0, the original's initial weights and sample orders. Its validation scores
//! test the schedule's edge cases: an exact tie after epoch 2 (not better; fewer than three
//! epochs at the rate, so no halving), a score one ulp above the best after epoch 12 (better:
//! the sum is compared as the original adds it up), and a tie after epoch 14 (the halving).
//!
//! Float rounding differs between the two implementations (summation orders) by about 1e-7,
//! and training amplifies such differences: with hardest-negative hinge losses a rounding
//! difference can change which negative is hardest, and the runs drift apart by about a
//! factor of ten every two epochs (measured: loss 1e-7 at step 1, 1e-4 after 3 epochs, 1e-2
//! after 12). So the test checks two things:
//! - every epoch replayed from the original's own state at its start (parameters, BatchNorm
//!   statistics, Adam moments and step count): every step's loss and gradient norm, the state
//!   at the epoch's end, the validation score of the original's weights, all at float
//!   tolerance; and the schedule's decisions (decay, the halving) on the original's scores;
//! - the free run through [`train_observed`] itself: the first three epochs at float
//!   tolerance, and the same decisions (learning rate at every step) for as long as its
//!   validation scores equal the original's (at least two epochs: the validation set is
//!   small, its scores move in steps of 2.8 points, and the running means in eval mode carry
//!   the noise of the mapping's bias, so near ties flip early).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use dualenc_dataset::PairData;
use dualenc_model::model_dir::read_safetensors;
use dualenc_model::optim::OptimState;
use dualenc_model::triplet_loss::Measure;
use dualenc_model::{
    train_step, CpuAutodiffBackend, CpuBackend, DualEncoding, ModelConfig, NamedTensor,
    OptimConfig, Optimizer, OptimizerKind, TrainBackend,
};
use dualenc_train::data::{load_run_data, DataSpec, RunData};
use dualenc_train::loader::BatchLoader;
use dualenc_train::trace::BatchNormStats;
use dualenc_train::{
    train_observed, EpochRecord, PairValidator, RunOptions, SampleOrder, Schedule, ScheduleConfig,
    StepRecord, TrainConfig, TrainInputs, TrainObserver, Validator,
};
use serde::Deserialize;

type B = CpuAutodiffBackend;

fn fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/replay"
    ))
}

#[derive(Debug, Deserialize)]
struct OrigStep {
    epoch: usize,
    lr: f64,
    loss: f64,
    batch_size: usize,
    total_norm: f64,
}

#[derive(Debug, Deserialize)]
struct OrigEpoch {
    val_score: f64,
}

#[derive(Debug, Deserialize)]
struct OrigTrace {
    steps: Vec<OrigStep>,
    epochs: Vec<OrigEpoch>,
}

/// Everything the original recorded.
struct Original {
    trace: OrigTrace,
    order: Vec<Vec<usize>>,
    init: Vec<NamedTensor>,
    /// `bn.safetensors`: running statistics after every step, `[steps, features]`.
    bn: HashMap<String, Vec<f32>>,
    /// `states.safetensors`: `epochK.` parameters, buffers, `exp_avg.`/`exp_avg_sq.` moments
    /// and `step` after epoch K (1-based).
    states: HashMap<String, Vec<f32>>,
}

/// The traced run in `fixtures/replay/SUBDIR` (`""`: the main run; `variants/NAME`: one
/// epoch with another measure or optimiser), all from the same initial weights and orders.
fn load_original(subdir: &str) -> Original {
    let base = fixture();
    let dir = base.join(subdir);
    let read =
        |path: PathBuf| std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let as_map = |tensors: Vec<NamedTensor>| -> HashMap<String, Vec<f32>> {
        tensors.into_iter().map(|(n, _, d)| (n, d)).collect()
    };
    Original {
        trace: serde_json::from_slice(&read(dir.join("trace.json"))).unwrap(),
        order: serde_json::from_slice(&read(base.join("order.json"))).unwrap(),
        init: read_safetensors(&base.join("init.safetensors")).unwrap(),
        bn: as_map(read_safetensors(&dir.join("bn.safetensors")).unwrap()),
        states: as_map(read_safetensors(&dir.join("states.safetensors")).unwrap()),
    }
}

impl Original {
    /// The network state (parameters and buffers) after epoch `k` (1-based), as named tensors.
    fn state_after(&self, k: usize) -> Vec<NamedTensor> {
        self.init
            .iter()
            .map(|(name, shape, _)| {
                let data = self.tensor(&format!("epoch{k}.{name}")).to_vec();
                (name.clone(), shape.clone(), data)
            })
            .collect()
    }

    fn tensor(&self, key: &str) -> &[f32] {
        self.states
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from states.safetensors"))
    }

    /// The Adam optimiser as it stood after epoch `k` (`k = 0`: fresh).
    fn optimizer_after(&self, k: usize, config: OptimConfig) -> Optimizer<CpuBackend> {
        let mut optimizer = Optimizer::new(config);
        if k == 0 {
            return optimizer;
        }
        let step = self.tensor(&format!("epoch{k}.step"))[0] as i32;
        let device = Default::default();
        let tensor = |key: String| burn::tensor::Tensor::from_floats(self.tensor(&key), &device);
        for (name, _, _) in &self.init {
            let key = format!("epoch{k}.exp_avg_sq.{name}");
            if !self.states.contains_key(&key) {
                continue; // a buffer
            }
            let exp_avg_sq = tensor(key);
            // RMSprop keeps no first moment (the kernel does not read it).
            let exp_avg = match self
                .states
                .contains_key(&format!("epoch{k}.exp_avg.{name}"))
            {
                true => tensor(format!("epoch{k}.exp_avg.{name}")),
                false => exp_avg_sq.zeros_like(),
            };
            let state = OptimState {
                step,
                exp_avg,
                exp_avg_sq,
            };
            optimizer.set_state(name.clone(), state);
        }
        optimizer
    }

    /// BatchNorm statistics after global step `i`.
    fn bn_after(&self, i: usize) -> BatchNormStats {
        let row = |key: &str| {
            let all = &self.bn[key];
            let width = all.len() / self.trace.steps.len();
            all[i * width..(i + 1) * width].to_vec()
        };
        BatchNormStats {
            video_running_mean: row("video.running_mean"),
            video_running_var: row("video.running_var"),
            text_running_mean: row("text.running_mean"),
            text_running_var: row("text.running_var"),
        }
    }
}

fn data() -> RunData {
    load_run_data(&DataSpec {
        rootpath: fixture().join("root"),
        train: "replaytrain".into(),
        val: "replayval".into(),
        feature: "replayfeat".into(),
        vocab: "word_vocab_5".into(),
    })
    .unwrap()
}

/// The options of the traced run (`fixtures/replay/README.md`).
fn config(data: &RunData) -> TrainConfig {
    let model = ModelConfig {
        visual_feat_dim: data.feature_dim,
        visual_rnn_size: 8,
        visual_kernel_num: 4,
        visual_mapping_layers: vec![0, 16],
        word_dim: 8,
        text_rnn_size: 8,
        text_kernel_num: 4,
        text_mapping_layers: vec![0, 16],
        dropout: 0.0,
        bow_vocab_size: data.bow_size,
        vocab_size: data.rnn_vocab.len(),
        ..ModelConfig::default()
    }
    .resolve()
    .unwrap();
    TrainConfig {
        model,
        optim: OptimConfig {
            learning_rate: 5e-4,
            ..OptimConfig::default()
        },
        schedule: ScheduleConfig {
            learning_rate: 5e-4,
            num_epochs: 16,
            ..ScheduleConfig::default()
        },
        ..TrainConfig::default()
    }
}

/// `|a - b| <= tol * max(|a|, |b|, floor)`; false for NaN.
fn close(a: f64, b: f64, tol: f64, floor: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(floor)
}

/// The larger of two magnitudes, NaN when either is NaN (`f64::max` would drop it).
fn nan_max(m: f64, d: f64) -> f64 {
    if d.is_nan() || m.is_nan() {
        f64::NAN
    } else {
        m.max(d)
    }
}

/// Largest `|a - b|` over two equally long slices, in f64; NaN when either holds NaN.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .fold(0.0, nan_max)
}

/// Largest `|x|`, in f64; NaN when `a` holds NaN.
fn max_abs(a: &[f32]) -> f64 {
    a.iter().map(|&x| f64::from(x).abs()).fold(0.0, nan_max)
}

/// Compares our network state with the original's after the last epoch of `seen` (1-based),
/// reached after a stretch of `steps` steps in which a noise-driven entry moves by at most
/// `noise_step` per step; `tol` is relative to a tensor's largest entry.
///
/// Entries whose gradient is 0 in exact arithmetic in some or all steps are compared with
/// an absolute bound of `2 noise_step` per step instead: train-mode BatchNorm removes any shift
/// common to a batch, so the mapping's bias, the convolutions' biases (unless an item's
/// maximum is its padding's `relu(bias)`) and the convolution weights that cannot change an
/// item's maximum relative to the rest of the batch get only rounding noise, which Adam turns
/// into steps of up to `lr` in either implementation (fixtures README, "Zero gradients in
/// exact arithmetic"). They are those biases, and the weight entries whose second moment in
/// the original's own Adam state, after any of the epochs `seen`, is below 1e-10 of the
/// tensor's largest (gradients below 1e-5 of the largest, the fixtures README's rule).
/// Which entries of parameter `name` had a noise-level second moment after any epoch of
/// `seen` (all false for a buffer).
fn noise_entries(
    orig: &Original,
    name: &str,
    seen: std::ops::RangeInclusive<usize>,
    len: usize,
) -> Vec<bool> {
    let mut noise = vec![false; len];
    for k in seen.filter(|&k| k > 0) {
        let Some(v) = orig.states.get(&format!("epoch{k}.exp_avg_sq.{name}")) else {
            continue;
        };
        let v_max = max_abs(v);
        for (flag, &x) in noise.iter_mut().zip(v) {
            *flag |= f64::from(x) < 1e-10 * v_max;
        }
    }
    noise
}

fn null_space_bias(name: &str) -> bool {
    name.ends_with("fc1.bias") || (name.contains(".convs1.") && name.ends_with(".bias"))
}

fn assert_state_close(
    what: &str,
    ours: &[NamedTensor],
    orig: &Original,
    seen: std::ops::RangeInclusive<usize>,
    (steps, noise_step): (usize, f64),
    tol: f64,
) {
    let epoch = *seen.end();
    let noise_bound = 2.0 * noise_step * steps as f64;
    for (name, _, data) in ours {
        let other = orig.tensor(&format!("epoch{epoch}.{name}"));
        assert_eq!(data.len(), other.len(), "{what}: {name}");
        let scale = max_abs(other).max(1e-2);
        let noise = noise_entries(orig, name, seen.clone(), data.len());
        for (i, (&a, &b)) in data.iter().zip(other).enumerate() {
            let diff = (f64::from(a) - f64::from(b)).abs();
            let noise = null_space_bias(name) || noise[i];
            let bound = if name.ends_with("num_batches_tracked") {
                0.0
            } else if name.ends_with("running_mean") {
                // Follows the mapping's bias, a noise entry.
                noise_bound + tol * scale
            } else if noise {
                noise_bound
            } else {
                tol * scale
            };
            assert!(
                diff <= bound,
                "{what}: {name}[{i}] {a} vs the original's {b} (bound {bound:e})"
            );
        }
    }
}

/// Largest relative differences of the step losses and gradient norms seen.
#[derive(Default)]
struct Worst {
    loss: f64,
    norm: f64,
}

/// Replays epoch `k` (0-based) from the original's state before it (its initial weights and
/// a fresh optimiser for `k = 0`) and checks every step and the state at the epoch's end;
/// returns the number of steps.
fn replay_epoch(
    orig: &Original,
    config: &TrainConfig,
    train: &Arc<PairData>,
    k: usize,
    worst: &mut Worst,
) -> usize {
    let device = Default::default();
    let start = if k == 0 {
        orig.init.clone()
    } else {
        orig.state_after(k)
    };
    let mut model =
        DualEncoding::<B>::from_named_tensors(config.model.clone(), start, &device).unwrap();
    let first = orig.trace.steps.iter().position(|s| s.epoch == k).unwrap();
    let lr = orig.trace.steps[first].lr;
    let mut optim = orig.optimizer_after(
        k,
        OptimConfig {
            learning_rate: lr,
            ..config.optim.clone()
        },
    );
    let loader = BatchLoader::spawn(
        Arc::clone(train),
        orig.order[k].clone(),
        config.batch_size,
        64,
        2,
    );
    let mut step = first;
    for batch in loader {
        let batch = batch.unwrap();
        let o = &orig.trace.steps[step];
        assert_eq!(
            (o.epoch, o.batch_size),
            (k, batch.perm.len()),
            "step {step}"
        );
        let (next, report) = train_step(model, &mut optim, &batch, &config.loss).unwrap();
        model = next;
        let (dl, dn) = (f64::from(report.loss), f64::from(report.total_norm));
        assert!(
            close(dl, o.loss, 1e-4, 1e-2),
            "step {step}: loss {dl} vs {}",
            o.loss
        );
        assert!(
            close(dn, o.total_norm, 1e-4, 1e-2),
            "step {step}: norm {dn} vs {}",
            o.total_norm
        );
        worst.loss = worst.loss.max((dl - o.loss).abs() / o.loss.abs().max(1e-2));
        worst.norm = worst
            .norm
            .max((dn - o.total_norm).abs() / o.total_norm.abs().max(1e-2));
        let ours = BatchNormStats::of(&model).unwrap();
        let theirs = orig.bn_after(step);
        for (a, b) in [
            (&ours.video_running_var, &theirs.video_running_var),
            (&ours.text_running_var, &theirs.text_running_var),
        ] {
            let d = max_abs_diff(a, b);
            assert!(
                d <= 1e-4 * max_abs(b),
                "step {step}: running_var differs by {d:e}"
            );
        }
        step += 1;
    }
    let ours = model.to_named_tensors().unwrap();
    let what = format!("after epoch {}", k + 1);
    // The largest step a noise-driven entry can take: Adam's is lr; RMSprop's, without bias
    // correction, up to lr / sqrt(1 - alpha) in its first steps.
    let noise_step = match config.optim.optimizer {
        OptimizerKind::Adam => lr,
        OptimizerKind::Rmsprop => lr / (1.0 - config.optim.alpha).sqrt(),
    };
    assert_state_close(
        &what,
        &ours,
        orig,
        k..=k + 1,
        (step - first, noise_step),
        1e-3,
    );
    step - first
}

/// Validates the original's weights after epoch `k` (1-based) with our validation.
fn validate_original(
    orig: &Original,
    config: &TrainConfig,
    validator: &mut PairValidator,
    k: usize,
) -> f64 {
    let model = DualEncoding::<CpuBackend>::from_named_tensors(
        config.model.clone(),
        orig.state_after(k),
        &Default::default(),
    )
    .unwrap();
    let val = validator.validate(&model).unwrap();
    config.val_metric.score(&val, config.loss.direction)
}

#[test]
fn every_epoch_replayed_from_the_originals_state_matches_it() {
    let orig = load_original("");
    let data = data();
    let config = config(&data);
    let train = Arc::new(data.train);
    let mut validator = PairValidator::new(data.val, Some(3), 128, config.loss.measure).unwrap();
    let mut schedule = Schedule::new(config.schedule.clone());
    let epochs = orig.trace.epochs.len();
    assert_eq!(epochs, 16);
    let (mut steps, mut worst) = (0usize, Worst::default());
    for k in 0..epochs {
        let lr = orig.trace.steps[steps].lr;
        assert!(
            close(schedule.learning_rate(), lr, 1e-12, 0.0),
            "epoch {}: lr {} vs the original's {lr}",
            k + 1,
            schedule.learning_rate()
        );
        let n = replay_epoch(&orig, &config, &train, k, &mut worst);
        assert_eq!(n, 8, "epoch {}", k + 1);
        steps += n;
        // Validation of the original's own weights, and the schedule on its scores.
        let score = validate_original(&orig, &config, &mut validator, k + 1);
        let expected = orig.trace.epochs[k].val_score;
        assert!(
            close(score, expected, 1e-9, 1.0),
            "epoch {}: validation {score} vs {expected}",
            k + 1
        );
        schedule.record(expected);
    }
    assert_eq!(steps, orig.trace.steps.len());
    eprintln!(
        "largest relative step difference: loss {:e}, norm {:e}",
        worst.loss, worst.norm
    );
    let halvings = orig
        .trace
        .steps
        .windows(2)
        .filter(|w| w[1].lr < 0.6 * w[0].lr)
        .count();
    assert_eq!(halvings, 1, "the fixture covers one halving");
}

/// The original's other measures and optimiser (`variants/`), from the same initial weights
/// and orders: every step and the state after each epoch at the same tolerances, and the
/// validation of the original's weights with the same measure. Euclidean and order train one
/// epoch of 8 steps; RMSprop, whose first steps move every entry by up to ten times the
/// learning rate (no bias correction) and so amplify rounding differences ten times faster,
/// two epochs of one step (batch 900), each replayed from the original's state.
#[test]
fn the_other_measures_and_rmsprop_train_as_the_original() {
    let data = data();
    let base = config(&data);
    let train = Arc::new(data.train);
    let variants = [
        ("euclidean", Measure::Euclidean, OptimizerKind::Adam, 128),
        ("order", Measure::Order, OptimizerKind::Adam, 128),
        ("rmsprop", Measure::Cosine, OptimizerKind::Rmsprop, 900),
    ];
    for (name, measure, optimizer, batch_size) in variants {
        let orig = load_original(&format!("variants/{name}"));
        let mut config = base.clone();
        config.loss.measure = measure;
        config.optim.optimizer = optimizer;
        config.batch_size = batch_size;
        for k in 0..orig.trace.epochs.len() {
            let n = replay_epoch(&orig, &config, &train, k, &mut Worst::default());
            assert_eq!(n, 900usize.div_ceil(batch_size), "{name}");
            if measure == Measure::Order {
                continue; // The original cannot validate an order model (no such cal_error).
            }
            let mut validator =
                PairValidator::new(self::data().val, Some(3), 128, measure).unwrap();
            let score = validate_original(&orig, &config, &mut validator, k + 1);
            let expected = orig.trace.epochs[k].val_score;
            assert!(
                close(score, expected, 1e-9, 1.0),
                "{name}: validation {score} vs {expected}"
            );
        }
    }
}

/// Records what the trainer does.
#[derive(Default)]
struct Recorder {
    steps: Vec<(StepRecord, BatchNormStats)>,
    scores: Vec<f64>,
    states: Vec<Vec<NamedTensor>>,
}

impl<T: TrainBackend> TrainObserver<T> for Recorder {
    fn step(&mut self, record: &StepRecord, model: &DualEncoding<T>) -> dualenc_train::Result<()> {
        self.steps.push((*record, BatchNormStats::of(model)?));
        Ok(())
    }

    fn epoch(
        &mut self,
        record: &EpochRecord,
        model: &DualEncoding<T>,
    ) -> dualenc_train::Result<()> {
        self.scores.push(record.outcome.score);
        self.states.push(model.to_named_tensors()?);
        Ok(())
    }
}

#[test]
fn the_free_run_follows_the_original_closely_and_decides_as_it_does() {
    let orig = load_original("");
    let data = data();
    let config = config(&data);
    let mut validator = PairValidator::new(data.val, Some(3), 128, config.loss.measure).unwrap();
    let inputs = TrainInputs {
        train: Arc::new(data.train),
        vocab_files: data.vocab_files,
        word_vectors: None,
        extra: Default::default(),
        initial_weights: Some(orig.init.clone()),
        order: SampleOrder::Given(Arc::new(orig.order.clone())),
    };
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions {
        out_dir: dir.path().join("run"),
        resume: false,
        stop_after_batches: None,
    };
    let mut recorder = Recorder::default();
    train_observed::<B, _>(
        &config,
        &inputs,
        &mut validator,
        &options,
        &Default::default(),
        &mut recorder,
    )
    .unwrap();
    assert_eq!(recorder.steps.len(), orig.trace.steps.len());
    // The runs drift apart (see the module documentation), and once a validation score
    // differs the schedules may too: decisions are compared while every score so far agrees.
    let agreeing = recorder
        .scores
        .iter()
        .zip(&orig.trace.epochs)
        .take_while(|(ours, o)| close(**ours, o.val_score, 1e-9, 1.0))
        .count();
    eprintln!(
        "validation scores agree for {agreeing} of {} epochs",
        recorder.scores.len()
    );
    assert!(
        agreeing >= 2,
        "the first two validations differ: {:?}",
        recorder.scores
    );
    for (i, ((ours, bn), o)) in recorder.steps.iter().zip(&orig.trace.steps).enumerate() {
        assert_eq!(
            (ours.epoch, ours.batch_size),
            (o.epoch, o.batch_size),
            "step {i}"
        );
        if o.epoch <= agreeing {
            assert!(
                close(ours.lr, o.lr, 1e-12, 0.0),
                "step {i}: lr {} vs the original's {}",
                ours.lr,
                o.lr
            );
        }
        if o.epoch < 3 {
            let (dl, dn) = (f64::from(ours.loss), f64::from(ours.total_norm));
            assert!(
                close(dl, o.loss, 1e-3, 1e-2),
                "step {i}: loss {dl} vs {}",
                o.loss
            );
            assert!(
                close(dn, o.total_norm, 1e-3, 1e-2),
                "step {i}: norm {dn} vs {}",
                o.total_norm
            );
            let theirs = orig.bn_after(i);
            let d = max_abs_diff(&bn.video_running_var, &theirs.video_running_var);
            assert!(
                d <= 1e-3 * max_abs(&theirs.video_running_var),
                "step {i}: running_var differs by {d:e}"
            );
        }
    }
    // The whole state after epoch 3 (noise-driven biases and the running means that follow
    // them left out): its relative distance from the original's (measured: 1.3e-4).
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (name, _, data) in &recorder.states[2] {
        if null_space_bias(name) || name.contains("running_mean") {
            continue;
        }
        let theirs = orig.tensor(&format!("epoch3.{name}"));
        for (&a, &b) in data.iter().zip(theirs) {
            diff += (f64::from(a) - f64::from(b)).powi(2);
            norm += f64::from(b).powi(2);
        }
    }
    let relative = (diff / norm).sqrt();
    assert!(
        relative < 1e-3,
        "state after epoch 3: relative distance {relative:e}"
    );
}
